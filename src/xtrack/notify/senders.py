"""Sending one message to one target: email through ``xtrack.mail``, everything else through apprise.

Apprise is blocking (requests under the hood): it runs in a worker thread (``asyncio.to_thread``), one
``Apprise`` object per send, so concurrent sends share nothing. Failures raise ``SendError`` whose
message never contains the target URL's secrets (``masking.scrub``); ``permanent`` ones (a URL apprise
does not understand) are not retried.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import apprise

from xtrack.config import Settings
from xtrack.mail import MailError, send_email
from xtrack.notify import masking
from xtrack.notify.content import CHAT_LIMITS, Message, escape_markdown, fit_markdown
from xtrack.notify.models import TargetKind

APPRISE_TIMEOUT_SECONDS = 30.0
MAX_ERROR_LENGTH = 1000


class SendError(Exception):
    """A delivery attempt failed; ``message`` is safe to store and show."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.message = message[:MAX_ERROR_LENGTH]
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a message goes: the target's kind and address, as read when the send was claimed."""

    kind: str
    name: str
    url: str | None = None
    email: str | None = None


Send = Callable[[Settings, Destination, Message], Awaitable[None]]


def scheme_of(url: str) -> str:
    return url.split("://", 1)[0].strip().lower() if "://" in url else ""


def check_apprise_url(url: str) -> str:
    """The URL trimmed, when apprise knows how to send to it; ValueError (safe to show) otherwise."""
    url = (url or "").strip()
    if not url:
        raise ValueError(
            "Enter the service's apprise URL, e.g. tgram://bot-token/chat-id or json://host/path."
        )
    if len(url) > 2000:
        raise ValueError("The URL is too long (at most 2,000 characters).")
    if scheme_of(url) in {"http", "https"}:
        raise ValueError("Use json://host/path (or jsons:// for HTTPS) to post to a webhook.")
    if not apprise.Apprise().add(url):
        raise ValueError(
            "Apprise does not understand this URL: check the scheme (tgram://, discord://, slack://, "
            "ntfy://, json://, …) and its parts."
        )
    return url


def body_limit(scheme: str, service_limit: int | None) -> int | None:
    """Characters a message body may have on this service (None: no limit)."""
    if scheme in CHAT_LIMITS:
        ours = CHAT_LIMITS[scheme]
        if ours is None:
            return None
        return min(ours, service_limit) if service_limit else ours
    return service_limit or None


def _send_apprise_blocking(url: str, message: Message) -> None:
    notifier = apprise.Apprise()
    if not notifier.add(url):
        raise SendError("Apprise does not understand this target's URL any more.", permanent=True)
    service = notifier[0]
    title = message.subject
    body = message.markdown
    title_limit = int(getattr(service, "title_maxlen", 0) or 0)
    if title_limit <= 0:
        # The service has no title field: apprise would prepend it, so count it in the body.
        body = f"**{escape_markdown(title)}**\n\n{body}"
        title = ""
    elif len(title) > title_limit:
        title = title[: title_limit - 1] + "…"
    limit = body_limit(scheme_of(url), int(getattr(service, "body_maxlen", 0) or 0))
    body = fit_markdown(body, limit, link=message.link)
    result = notifier.notify(
        body=body,
        title=title,
        body_format=apprise.NotifyFormat.MARKDOWN,
        timeout=APPRISE_TIMEOUT_SECONDS,
    )
    try:
        if result:
            return
        problems = [
            entry.message
            for entry in result.logs()
            if getattr(entry, "level", logging.WARNING) >= logging.WARNING and entry.message
        ]
    finally:
        # Release the result's log store here, in this thread: left to the garbage collector, its
        # __del__ takes a lock at an arbitrary point of another thread (a deadlock seen in tests).
        close = getattr(result, "close", None)
        if callable(close):
            close()
    detail = "; ".join(dict.fromkeys(problems)) or "the service did not accept the message"
    raise SendError(masking.scrub(detail, url))


async def send_apprise(url: str, message: Message) -> None:
    await asyncio.to_thread(_send_apprise_blocking, url, message)


async def send(settings: Settings, destination: Destination, message: Message) -> None:
    """Deliver ``message`` to ``destination``; SendError when it did not arrive."""
    if destination.kind == TargetKind.EMAIL.value:
        if not destination.email:
            raise SendError("This email target has no address.", permanent=True)
        try:
            await send_email(
                settings, to=destination.email, subject=message.subject, text=message.text, html=message.html
            )
        except MailError as exc:
            raise SendError(f"Email not sent: {exc}") from None
        except ValueError as exc:  # XTRACK_SMTP_URL that does not parse: the operator must fix it
            raise SendError(f"Email not sent: {exc}") from None
        return
    if destination.kind == TargetKind.APPRISE.value and destination.url:
        try:
            await send_apprise(destination.url, message)
        except SendError:
            raise
        except Exception as exc:  # a plugin bug must not leak the URL or stop the sender
            raise SendError(masking.scrub(f"{type(exc).__name__}: {exc}", destination.url)) from None
        return
    raise SendError(f"Unknown target kind {destination.kind!r}.", permanent=True)
