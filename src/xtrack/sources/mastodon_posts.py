"""Reading Mastodon statuses whole: HTML content as plain text with its links, a reblog as the
original's text and author, replies flagged, a content warning kept before the text, and a status
id as a cursor.

**The cursor.** Mastodon status ids are ``(milliseconds since 1970) << 16 | sequence``: they order
statuses by time. ``status_key`` moves one onto the X snowflake layout (milliseconds since the X
epoch << 22 | the same 16 low bits), keeping order and time, so the posts of a Mastodon account
compare with those of the other networks in a briefing; ``status_id`` reverses it for ``since_id``.
An id of another form (a server that is not Mastodon, an id from before Mastodon 2.0) falls back
to the status's time with a hash of the id in the low bits (bit 21 set: never reversed, so such
an account is read back to the cursor's time instead of by ``since_id``)."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

from xtrack.sources.base import MalformedResponse, Post
from xtrack.sources.ids import X_EPOCH_MS, snowflake

_SEQUENCE = 0xFFFF
_FALLBACK_BIT = 1 << 21
_LATEST_MS = 4_102_444_800_000  # 2100-01-01: a larger "time" is not a Mastodon id
_METRICS = {"favourites_count": "likes", "reblogs_count": "reposts", "replies_count": "replies"}
_BLOCKS = frozenset({"p", "br", "div", "li", "blockquote", "pre"})


def status_key(status_id: str, created_at: datetime) -> int:
    """The snowflake-layout key of a status (module docstring)."""
    if status_id.isdigit():
        value = int(status_id)
        ms = value >> 16
        if X_EPOCH_MS <= ms < _LATEST_MS:
            return ((ms - X_EPOCH_MS) << 22) | (value & _SEQUENCE)
    return snowflake(created_at, _FALLBACK_BIT | (zlib.crc32(status_id.encode()) & 0xFFFFF))


def status_id(key: int) -> str | None:
    """The Mastodon id a ``status_key`` came from, or None for a fallback key."""
    if key & ~((-1) << 22) & ~_SEQUENCE:
        return None
    return str((((key >> 22) + X_EPOCH_MS) << 16) | (key & _SEQUENCE))


class _Text(HTMLParser):
    """Paragraphs and line breaks as new lines; a link whose text does not show its address (and is
    not a mention or a hashtag) gets the address after it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.link: tuple[str, str, int] | None = None  # href, class, index of its first part

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS:
            self.parts.append("\n")
        if tag == "a":
            values = dict(attrs)
            self.link = (values.get("href") or "", values.get("class") or "", len(self.parts))

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":
            self.parts.append("\n")
        if tag == "a" and self.link is not None:
            href, kind, first = self.link
            shown = "".join(self.parts[first:]).strip()
            bare = href.split("://", 1)[-1].rstrip("/")
            if (
                href
                and "mention" not in kind
                and "hashtag" not in kind
                and bare not in shown
                and shown not in href
            ):
                self.parts.append(f" {href}")
            self.link = None

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(value: str) -> str:
    """Mastodon's status HTML as plain text: paragraphs kept, links whole."""
    parser = _Text()
    parser.feed(value)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


def full_acct(account: Any, server_host: str) -> str:
    """``user@host`` of an account object (a local account's ``acct`` has no host)."""
    acct = str(account.get("acct") or account.get("username") or "") if isinstance(account, Mapping) else ""
    return (acct if "@" in acct else f"{acct}@{server_host}").lower()


def _time(value: Any) -> datetime:
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _text(status: Mapping[str, Any]) -> str:
    text = html_to_text(str(status.get("content") or ""))
    if not text:
        # A status of media only: its descriptions (or addresses) stand in for the text.
        media = [m for m in status.get("media_attachments") or [] if isinstance(m, Mapping)]
        text = "\n".join(str(m.get("description") or m.get("url") or "") for m in media).strip()
    warning = str(status.get("spoiler_text") or "").strip()
    return f"CW: {warning}\n{text}" if warning else text


def _quoted(status: Mapping[str, Any], server_host: str) -> tuple[bool, str | None, str | None]:
    """Mastodon 4.4's quote posts: ``quote.quoted_status`` (absent when deleted or not accepted)."""
    quote = status.get("quote")
    if not isinstance(quote, Mapping):
        return False, None, None
    quoted = quote.get("quoted_status")
    if not isinstance(quoted, Mapping):
        return True, None, None
    return True, full_acct(quoted.get("account"), server_host), _text(quoted)


def parse_status(status: Any, *, username: str, server_host: str) -> Post:
    """One status of ``username``'s timeline (served by ``server_host``) as a Post."""
    try:
        own_id = str(status["id"])
        created = _time(status["created_at"])
        reblog = status.get("reblog")
        shown = reblog if isinstance(reblog, Mapping) else status
        text = _text(shown)
        url = str(shown.get("url") or shown.get("uri") or "")
        is_quote, quoted_author, quoted_text = _quoted(shown, server_host)
        metrics = {name: int(shown[key]) for key, name in _METRICS.items() if isinstance(shown.get(key), int)}
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedResponse(f"Mastodon returned a status that cannot be read ({exc!r})") from None
    return Post(
        external_id=str(status_key(own_id, created)),
        author_username=username,
        text=text,
        created_at=created,
        url=url,
        metrics=metrics,
        is_repost=shown is not status,
        is_reply=status.get("in_reply_to_id") is not None,
        is_quote=is_quote,
        raw={
            "id": own_id,
            "uri": status.get("uri"),
            "spoiler_text": shown.get("spoiler_text") or None,
            "in_reply_to_account_id": status.get("in_reply_to_account_id"),
        },
        original_author=full_acct(shown.get("account"), server_host) if shown is not status else None,
        quoted_author=quoted_author,
        quoted_text=quoted_text,
    )
