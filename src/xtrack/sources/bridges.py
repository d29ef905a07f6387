"""What an RSS bridge (RSSHub, Nitter) says when it does not answer with a feed: its error page, a
bot check in front of it, or a "not whitelisted" notice, read into the bridge's own words (pure).

RSSHub renders every error as an HTML page ("Looks like something went wrong") with the message in
the ``<code>`` after "Error Message:" (503 for most errors, 403 for a refused request, 404 for a
route that does not exist; older versions answer 404 for every error). Nitter shows its errors in
an ``error-panel`` (404 ``User "name" not found``)."""

from __future__ import annotations

import html
import re

import httpx

from xtrack.sources.base import AccountNotFound, SourceError, TransientSourceError

_RSSHUB_MESSAGE = re.compile(r"Error Message:\s*(?:<br\s*/?>)?\s*<code[^>]*>(.*?)</code>", re.S | re.I)
_NITTER_PANEL = re.compile(r'class="error-panel"[^>]*>\s*(?:<span>)?(.*?)</', re.S | re.I)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.S | re.I)
_TAG = re.compile(r"<[^>]+>")
_SCRIPT = re.compile(r"<(script|style)\b.*?</\1>", re.S | re.I)
# How a bridge says the account itself is unknown (not the route, not the bridge).
_ACCOUNT_MISSING = re.compile(
    r"(user|account)\b[^.\n]{0,60}\b(not found|doesn.t exist|does not exist|not exist)", re.I
)
MESSAGE_CHARS = 300


class FeedUnavailable(SourceError):
    """The bridge answered, but not with the account's feed: an error page, a bot check, a feed it
    will not serve this reader. The message is the bridge's own; the account's state is left be."""

    kind = "source_unavailable"
    retryable = False


def _clean(fragment: str) -> str:
    text = html.unescape(_TAG.sub(" ", _SCRIPT.sub(" ", fragment)))
    return " ".join(text.split())[:MESSAGE_CHARS]


def bridge_message(body: str) -> str:
    """The bridge's own words in a page that is not a feed: RSSHub's error message, Nitter's error
    panel, else the page's title and its first words."""
    for pattern in (_RSSHUB_MESSAGE, _NITTER_PANEL):
        match = pattern.search(body)
        if match and _clean(match.group(1)):
            return _clean(match.group(1))
    title = _TITLE.search(body)
    words = _clean(_TITLE.sub(" ", body))
    if title and _clean(title.group(1)):
        heading = _clean(title.group(1))
        return f"{heading}: {words}"[:MESSAGE_CHARS] if words else heading
    return words or "an empty page"


def is_page(response: httpx.Response) -> bool:
    """An HTML or plain-text answer (a bridge's page), not a feed or something unreadable."""
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind in ("text/html", "application/xhtml+xml", "text/plain"):
        return True
    start = response.content[:512].lstrip().lower()
    return start.startswith((b"<!doctype html", b"<html"))


def page_error(response: httpx.Response, *, username: str) -> SourceError:
    """The error a bridge's non-feed answer stands for: ``AccountNotFound`` only for a 404 that says
    the account is unknown, a retryable error for a bare 5xx, else ``FeedUnavailable`` with the
    bridge's message."""
    message = bridge_message(response.text)
    status = response.status_code
    if status == 404 and _ACCOUNT_MISSING.search(message):
        return AccountNotFound(f'no feed for @{username}: the RSS bridge says "{message}"')
    what = f"HTTP {status}" if status != 200 else "a page, not a feed"
    said = f"the RSS bridge answered {what} for @{username}: {message}"
    if status >= 500 and not _RSSHUB_MESSAGE.search(response.text):
        # A proxy or server in front of the bridge failing, not the bridge's verdict: worth a retry.
        return TransientSourceError(said)
    return FeedUnavailable(said)
