"""Sending one message to one target: email through ``xtrack.mail``, everything else through apprise.

Apprise is blocking (requests under the hood): it runs in a worker thread (``asyncio.to_thread``), one
``Apprise`` object per send, so concurrent sends share nothing. Failures raise ``SendError`` whose
message never contains the target URL's secrets (``masking.scrub``); ``permanent`` ones (a URL apprise
does not understand, an address the outbound guard refuses) are not retried.

The host of an apprise URL is the user's choice: each send runs inside ``outbound.guarded`` (it
connects only to checked addresses, and redirects are not followed), local-only services (syslog, the
desktop) are refused, and a connection that failed is stored as "could not connect", never with the
reason (a refused port and a silent one look the same: no port scanner).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import apprise

from xtrack import outbound
from xtrack.config import Settings
from xtrack.mail import MailError, send_email
from xtrack.notify import masking
from xtrack.notify.content import CHAT_LIMITS, Message, escape_markdown, fit_markdown
from xtrack.notify.models import TargetKind

MAX_ERROR_LENGTH = 1000
IDEMPOTENCY_HEADER = "Idempotency-Key"
COULD_NOT_CONNECT = "Could not connect to the service."
# Services that write to this server itself (its log, its desktop, a USB light), or whose connections
# do not resolve names through the guard (rsyslog sends UDP to a name; XMPP resolves on its own
# event loop's threads): never a user's target.
LOCAL_ONLY_SCHEMES = frozenset(
    {"syslog", "rsyslog", "dbus", "qt", "kde", "glib", "gio", "gnome", "macosx", "windows", "blink1"}
    | {"xmpp", "xmpps"}
)
# Webhook plugins that send the custom headers of their URL (``+Header=value``).
_HEADER_SCHEMES = frozenset({"json", "jsons", "form", "forms", "xml", "xmls"})


class SendError(Exception):
    """A delivery attempt failed; ``message`` is safe to store and show."""

    def __init__(self, message: str, *, permanent: bool = False, in_flight: bool = False) -> None:
        super().__init__(message)
        self.message = message[:MAX_ERROR_LENGTH]
        self.permanent = permanent
        # The send was given up on while its thread may still be talking to the service.
        self.in_flight = in_flight


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a message goes: the target's kind and address, as read when the send was claimed."""

    kind: str
    name: str
    url: str | None = None
    email: str | None = None
    # The outbox row being sent: webhooks carry it as their idempotency key (a receiver that got the
    # message from an attempt whose answer was lost can drop the retry).
    delivery_id: int | None = None


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
    if scheme_of(url) in LOCAL_ONLY_SCHEMES:
        raise ValueError(
            f"{scheme_of(url)}:// delivers on the XTrack server itself (its log or desktop), not to you: "
            "choose a service that reaches you, such as tgram://, ntfy:// or json://."
        )
    with _apprise_quiet_in_this_thread():  # a typo is a form message, not an ERROR line in the log
        understood = apprise.Apprise().add(url)
    if not understood:
        raise ValueError(
            "Apprise does not understand this URL: check the scheme (tgram://, discord://, slack://, "
            "ntfy://, json://, …) and its parts."
        )
    return url


def user_chosen_hosts(url: str) -> list[str]:
    """The network hosts the URL names itself (a webhook's host, a self-hosted server, an SMTP server),
    as opposed to a service's fixed API host (Telegram, Slack): those the outbound guard checks."""
    service = apprise.Apprise.instantiate(url)
    if service is None:
        return []
    smtp_host = getattr(service, "smtp_host", None)
    if smtp_host:  # mailto://: the host is the address's domain, the SMTP server is what is contacted
        return [str(smtp_host)]
    tokens = getattr(service, "template_tokens", {}) or {}
    host = str(getattr(service, "host", "") or "")
    return [host] if "host" in tokens and host else []


async def check_outbound(url: str, *, settings: Settings) -> None:
    """outbound.OutboundRefused (safe to show) when the URL's own host is an address XTrack must not
    contact (the save-time check; ``guarded`` checks again at every send)."""
    for host in user_chosen_hosts(url):
        await outbound.check_host(host, allow_private=settings.allow_private_outbound)


def body_limit(scheme: str, service_limit: int | None) -> int | None:
    """Characters a message body may have on this service (None: no limit)."""
    if scheme in CHAT_LIMITS:
        ours = CHAT_LIMITS[scheme]
        if ours is None:
            return None
        return min(ours, service_limit) if service_limit else ours
    return service_limit or None


class _DropThisThread(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.thread = threading.get_ident()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread != self.thread


@contextmanager
def _apprise_quiet_in_this_thread() -> Iterator[None]:
    """Drop what apprise logs from this thread meanwhile; sends in other threads still log."""
    quiet = _DropThisThread()
    apprise_logger = logging.getLogger("apprise")
    apprise_logger.addFilter(quiet)
    try:
        yield
    finally:
        apprise_logger.removeFilter(quiet)


class _ThreadWarnings(logging.Handler):
    """Collects the warnings apprise logs from one thread: the reason a send failed, kept apart from
    sends running at the same time in other threads (they may belong to other users)."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.thread = threading.get_ident()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.messages.append(record.getMessage())


def fit_for_service(service: object, url: str, message: Message) -> tuple[str, str]:
    """(title, body) of ``message`` within the service's limits: one message, never a split one (a
    retry must not re-send half of it); a body that is too long ends with a link to the summary."""
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
    return title, fit_markdown(body, limit, link=message.link)


@dataclass(frozen=True, slots=True)
class AppriseOptions:
    """How one apprise send behaves: the guard's policy, the socket timeouts, the idempotency key."""

    allow_private: bool
    timeout_seconds: float
    idempotency_key: str | None = None


def _configure(service: Any, url: str, options: AppriseOptions) -> None:
    # Redirects are never followed (a URL's ``?redirect=yes`` included): a hop may lead anywhere.
    service.redirects = False
    # Apprise's own 4 s read timeout made a slow receiver get the message twice (issue 22, #11).
    service.socket_read_timeout = options.timeout_seconds
    service.socket_connect_timeout = min(options.timeout_seconds, 10.0)
    headers = getattr(service, "headers", None)
    if options.idempotency_key and scheme_of(url) in _HEADER_SCHEMES and isinstance(headers, dict):
        headers[IDEMPOTENCY_HEADER] = options.idempotency_key


def _failure(warnings: list[str], url: str) -> str:
    """What to store about a send apprise reported failed: a connection that failed (refused, reset,
    timed out) is only "could not connect"; an answer from the service keeps apprise's words."""
    messages = list(dict.fromkeys(m for m in warnings if m))
    if any("connection error" in m.lower() or "timed out" in m.lower() for m in messages):
        return COULD_NOT_CONNECT
    return masking.scrub("; ".join(messages) or "the service did not accept the message", url)


def _send_apprise_blocking(url: str, message: Message, options: AppriseOptions) -> None:
    if scheme_of(url) in LOCAL_ONLY_SCHEMES:
        raise SendError(
            f"Not sent: {scheme_of(url)}:// delivers on the XTrack server itself.", permanent=True
        )
    # The plugin's own notify() (a plain bool), not Apprise.notify(): the latter wraps every call in
    # log stores whose locks deadlocked when the garbage collector released one from another thread.
    service = apprise.Apprise.instantiate(url, asset=apprise.AppriseAsset(http_redirects=False))
    if service is None:
        raise SendError("Apprise does not understand this target's URL any more.", permanent=True)
    _configure(service, url, options)
    title, body = fit_for_service(service, url, message)
    warnings = _ThreadWarnings()
    apprise_logger = logging.getLogger("apprise")
    apprise_logger.addHandler(warnings)
    try:
        with outbound.guarded(allow_private=options.allow_private) as guard:
            sent = service.notify(body=body, title=title, body_format=apprise.NotifyFormat.MARKDOWN)
    finally:
        apprise_logger.removeHandler(warnings)
    if guard.refused is not None:
        raise SendError(f"Not sent: {guard.refused}", permanent=True)
    if not sent:
        raise SendError(_failure(warnings.messages, url))


async def send_apprise(url: str, message: Message, options: AppriseOptions) -> None:
    await asyncio.to_thread(_send_apprise_blocking, url, message, options)


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
        options = AppriseOptions(
            allow_private=settings.allow_private_outbound,
            timeout_seconds=settings.notify_timeout_seconds,
            idempotency_key=str(destination.delivery_id) if destination.delivery_id is not None else None,
        )
        try:
            await send_apprise(destination.url, message, options)
        except SendError:
            raise
        except Exception as exc:  # a plugin bug must not leak the URL or stop the sender
            raise SendError(masking.scrub(f"{type(exc).__name__}: {exc}", destination.url)) from None
        return
    raise SendError(f"Unknown target kind {destination.kind!r}.", permanent=True)
