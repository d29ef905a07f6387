"""Target URLs carry secrets (bot tokens, webhook keys, passwords): never show them back in full.

``mask_url("tgram://123456:ABC-token/987")``  -> ``tgram://***/…``
``mask_url("jsons://user:pw@hooks.example.com/x/KEY")`` -> ``jsons://***@hooks.example.com/…``

Only the scheme and a real network host name survive; user info, path, query and fragment are
replaced. For many apprise services the "host" is itself a token (``discord://webhook_id/...``), so a
host is only shown when it looks like a DNS name or an IP address. ``scrub`` removes a URL's secret
parts from an error message before it is stored or shown.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import unquote, urlsplit

MASK = "***"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]{0,31})://(.*)$", re.DOTALL)
_DNS_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_MIN_SECRET_LENGTH = 3


def _looks_like_host(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        pass
    labels = host.split(".")
    # A DNS name has a dot and a top-level label that is not all digits ("1234.5678" is not a host).
    return (
        len(labels) >= 2
        and all(_DNS_LABEL.match(label) for label in labels)
        and not labels[-1].isdigit()
        and any(c.isalpha() for c in labels[-1])
    )


def _split(url: str) -> tuple[str, str, str, str]:
    """(scheme, userinfo, hostport, rest) without trusting urlsplit with odd apprise URLs."""
    match = _SCHEME.match(url.strip())
    if match is None:
        return "", "", "", url
    scheme, remainder = match.group(1), match.group(2)
    cut = len(remainder)
    for delimiter in "/?#":
        index = remainder.find(delimiter)
        if index != -1:
            cut = min(cut, index)
    authority, rest = remainder[:cut], remainder[cut:]
    userinfo, _, hostport = authority.rpartition("@")
    return scheme, userinfo, hostport, rest


def _host_of(hostport: str) -> tuple[str, str]:
    """(host, ":port" or "") for a displayable host; the port is kept only when numeric."""
    if hostport.startswith("["):
        end = hostport.find("]")
        if end != -1:
            host, after = hostport[: end + 1], hostport[end + 1 :]
            return host, after if re.fullmatch(r":\d{1,5}", after) else ""
    host, sep, port = hostport.rpartition(":")
    if sep and port.isdigit() and len(port) <= 5:
        return host, f":{port}"
    return hostport, ""


def mask_url(url: str | None) -> str:
    """The URL with every part that may be secret replaced (see the module docstring)."""
    if not url:
        return ""
    scheme, userinfo, hostport, rest = _split(url)
    if not scheme:
        return MASK
    host, port = _host_of(hostport)
    shown = f"{host}{port}" if host and _looks_like_host(host) else MASK
    masked = f"{scheme.lower()}://"
    if userinfo:
        masked += f"{MASK}@"
    masked += shown
    if rest.strip("/"):
        masked += "/…"
    return masked


def secret_parts(url: str) -> list[str]:
    """The pieces of ``url`` that may be secret: user info, a host that is no DNS name, path
    segments, query values and the fragment (raw and percent-decoded), longest first."""
    scheme, userinfo, hostport, rest = _split(url)
    pieces: set[str] = set()
    if userinfo:
        pieces.add(userinfo)
        pieces.update(userinfo.split(":"))
    host, _port = _host_of(hostport)
    if host and not _looks_like_host(host):
        pieces.add(hostport)
        pieces.update(hostport.split(":"))
    parts = urlsplit("x://h" + rest) if scheme else urlsplit(url)
    pieces.update(segment for segment in parts.path.split("/") if segment)
    for pair in parts.query.split("&"):
        _, _, value = pair.partition("=")
        pieces.add(value)
    pieces.add(parts.fragment)
    decoded = {unquote(piece) for piece in pieces}
    return sorted((p for p in pieces | decoded if len(p) >= _MIN_SECRET_LENGTH), key=lambda p: (-len(p), p))


def scrub(text: str, url: str | None) -> str:
    """``text`` (an error message, a log line) with the secret parts of ``url`` replaced."""
    if not url or not text:
        return text
    text = text.replace(url, mask_url(url))
    for piece in secret_parts(url):
        text = text.replace(piece, MASK)
    return text
