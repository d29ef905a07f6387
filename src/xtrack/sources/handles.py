"""Which network an account is on, from the way it is written (one place; pure).

An account is stored as one string whose form says its network, so a job's account list, a run's
inputs and the posts store need no second column to know it:

* X: ``alice`` (1-15 letters, digits or underscores), typed ``alice``, ``@alice`` or an x.com /
  twitter.com profile URL;
* Bluesky: a domain-like handle ``alice.bsky.social`` (lower-case) or a ``did:plc:…`` /
  ``did:web:…`` identifier, typed as such, with a leading ``@``, or as a bsky.app profile URL;
* Mastodon: ``bob@mastodon.social`` (lower-case), typed ``@bob@mastodon.social``,
  ``bob@mastodon.social`` or as a profile URL ``https://mastodon.social/@bob``.

The three forms never overlap: an X handle has neither a dot nor an ``@``, a Bluesky handle has a
dot and no ``@``, a Mastodon account has exactly one ``@`` between user and server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import unquote, urlsplit

MAX_ACCOUNT_LENGTH = 300  # the widest stored form: a Mastodon user (30) @ a host name (253)


class Network(StrEnum):
    X = "x"
    BLUESKY = "bluesky"
    MASTODON = "mastodon"


NETWORK_LABELS = {Network.X: "X", Network.BLUESKY: "Bluesky", Network.MASTODON: "Mastodon"}

_X_HANDLE = re.compile(r"[A-Za-z0-9_]{1,15}")
# A DNS name of at least two labels, each 1-63 letters, digits or hyphens, not starting or ending
# with a hyphen; the top-level label starts with a letter (the AT Protocol's handle syntax).
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"(?:{_LABEL}\.)+[a-z](?:[a-z0-9-]{{0,61}}[a-z0-9])?")
_DID = re.compile(r"did:(?:plc:[a-z2-7]{24}|web:[a-z0-9.:%-]{1,253})")
_MASTODON_USER = re.compile(r"[a-z0-9_](?:[a-z0-9_.-]{0,62}[a-z0-9_])?")
_X_HOSTS = frozenset(
    {"x.com", "twitter.com", "www.x.com", "www.twitter.com", "mobile.x.com", "mobile.twitter.com"}
)
_BSKY_HOSTS = frozenset({"bsky.app", "www.bsky.app", "staging.bsky.app"})

# The three forms for an API schema (JSON Schema ``pattern``), any case, spaces around allowed (not
# control characters: those are refused). A profile URL is any text with a slash: the schema cannot
# say which hosts are the networks', so the server may still refuse one, as it refuses a host name
# over 253 characters.
_SPACES = r"[^\S\x00-\x1f\x7f]*"
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = rf"(?:{_NAME}\.)+[A-Za-z](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?"
_VISIBLE = r"[^\s\x00-\x1f\x7f]"
ACCOUNT_PATTERN = (
    rf"^{_SPACES}(?:"
    r"@?[A-Za-z0-9_]{1,15}"  # X
    rf"|@?[A-Za-z0-9_](?:[A-Za-z0-9_.-]{{0,62}}[A-Za-z0-9_])?@{_HOST}"  # Mastodon
    rf"|@?{_HOST}"  # Bluesky handle
    r"|@?[Dd][Ii][Dd]:(?:[Pp][Ll][Cc]:[A-Za-z2-7]{24}|[Ww][Ee][Bb]:[A-Za-z0-9.:%-]{1,253})"  # Bluesky DID
    rf"|{_VISIBLE}*/{_VISIBLE}*"  # a profile URL
    rf"){_SPACES}$"
)


@dataclass(frozen=True, slots=True)
class Handle:
    """A parsed account: its network and its stored form (``Handle.account``)."""

    network: Network
    account: str

    @property
    def display(self) -> str:
        """How the account is shown: ``@alice``, ``@alice.bsky.social``, ``@bob@mastodon.social``."""
        return f"@{self.account}"

    @property
    def profile_url(self) -> str:
        """The account's page on its network."""
        if self.network is Network.X:
            return f"https://x.com/{self.account}"
        if self.network is Network.BLUESKY:
            return f"https://bsky.app/profile/{self.account}"
        user, host = self.account.split("@", 1)
        return f"https://{host}/@{user}"


def _domain(value: str) -> bool:
    return len(value) <= 253 and _DOMAIN.fullmatch(value) is not None


def _from_url(value: str) -> Handle | None:
    """A profile URL (with or without its scheme) on X, bsky.app or a Mastodon server."""
    text = value if "://" in value else f"https://{value}"
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "").lower()
    except ValueError:
        return None
    segments = [unquote(s) for s in parts.path.split("/") if s]
    if not host or not segments:
        return None
    if host in _X_HOSTS:
        name = segments[0].removeprefix("@")
        return Handle(Network.X, name) if _X_HANDLE.fullmatch(name) else None
    if host in _BSKY_HOSTS:
        if len(segments) >= 2 and segments[0] == "profile":
            found = parse_handle(segments[1])
            return found if found is not None and found.network is Network.BLUESKY else None
        return None
    if _domain(host) and segments[0].startswith("@"):
        # https://host/@user (a local account) or https://host/@user@other.host (a remote one)
        user = segments[0][1:]
        return parse_handle(user if "@" in user else f"{user}@{host}")
    return None


def parse_handle(value: str) -> Handle | None:
    """The network and stored form of an account as a user typed it, or None when it is none of
    the three forms (module docstring)."""
    text = value.strip()
    if not text or len(text) > 2 * MAX_ACCOUNT_LENGTH or any(ch.isspace() for ch in text):
        return None
    if "/" in text:
        return _from_url(text)
    bare = text.removeprefix("@")
    if _X_HANDLE.fullmatch(bare):
        return Handle(Network.X, bare)
    lower = bare.lower()
    if "@" in lower:
        user, _, host = lower.partition("@")
        if "@" in host or not _MASTODON_USER.fullmatch(user) or not _domain(host):
            return None
        return Handle(Network.MASTODON, f"{user}@{host}")
    if _DID.fullmatch(lower) or (_domain(lower) and not lower.endswith(".invalid")):
        return Handle(Network.BLUESKY, lower)
    return None


def network_of(account: str) -> Network:
    """The network of an account in its stored form (no validation: an ``@`` is Mastodon, a dot or
    a DID Bluesky, anything else X)."""
    bare = account.removeprefix("@")
    if "@" in bare:
        return Network.MASTODON
    if "." in bare or bare.startswith("did:"):
        return Network.BLUESKY
    return Network.X


def display_account(account: str) -> str:
    """``@`` and the stored form, for any network."""
    return f"@{account.removeprefix('@')}"


def profile_url(account: str) -> str:
    """The profile page of an account in its stored form."""
    return Handle(network_of(account), account.removeprefix("@")).profile_url
