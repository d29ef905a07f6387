"""Outgoing email, shared by every feature (account emails now, notifications later).

``await send_email(settings, to=..., subject=..., text=..., html=...)`` sends one
multipart/alternative message (plain text + HTML) through ``XTRACK_SMTP_URL``::

    smtp://user:password@smtp.example.com:587?starttls=true
    smtp://user:password@smtp.example.com:465?ssl=true
    smtp://127.0.0.1:1025                      (no TLS, no login: a local relay or a test server)

The caller escapes what it puts in ``html`` (e.g. ``html.escape``); ``text`` is sent as is.

Without ``XTRACK_SMTP_URL`` the message is not sent: it is printed to the terminal (stderr) and
kept as an ``.eml`` file under ``<data dir>/mail/`` so a developer can follow the links offline.

Emails carry secrets (sign-in and reset links): their bodies never reach the structured log;
log lines name the event and the subject only.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from xtrack.config import Settings

logger = logging.getLogger("xtrack.mail")

SMTP_TIMEOUT_SECONDS = 20.0
_TRUE = {"1", "true", "yes", "on"}


class MailError(Exception):
    """The message could not be handed to the SMTP server (the message says why, without secrets)."""


@dataclass(frozen=True)
class SmtpConfig:
    hostname: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool
    start_tls: bool


def parse_smtp_url(url: str) -> SmtpConfig:
    """``smtp://user:pass@host:port?starttls=true|ssl=true`` -> connection settings; ValueError otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in {"smtp", "smtps"}:
        raise ValueError("XTRACK_SMTP_URL must start with smtp:// (or smtps://)")
    if not parts.hostname:
        raise ValueError("XTRACK_SMTP_URL has no host")
    query = {key.lower(): values[-1].lower() for key, values in parse_qs(parts.query).items()}
    use_tls = parts.scheme == "smtps" or query.get("ssl", "") in _TRUE or query.get("tls", "") in _TRUE
    start_tls = not use_tls and query.get("starttls", "") in _TRUE
    try:
        port = parts.port or (465 if use_tls else 587 if start_tls else 25)
    except ValueError:
        raise ValueError("XTRACK_SMTP_URL has an invalid port") from None
    return SmtpConfig(
        hostname=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        use_tls=use_tls,
        start_tls=start_tls,
    )


def build_message(settings: Settings, *, to: str, subject: str, text: str, html: str) -> EmailMessage:
    """A multipart/alternative message: the plain text first, the HTML as the preferred part."""
    message = EmailMessage()
    message["From"] = settings.email_from
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=_sender_domain(settings.email_from))
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def _sender_domain(address: str) -> str:
    domain = address.rsplit("@", 1)[-1].strip(" >")
    return domain or "localhost"


async def send_email(settings: Settings, *, to: str, subject: str, text: str, html: str) -> None:
    """Send one email via SMTP, or into the development mail sink when no SMTP server is set."""
    message = build_message(settings, to=to, subject=subject, text=text, html=html)
    if not settings.smtp_url:
        path = await asyncio.to_thread(_write_to_sink, settings.data_dir / "mail", message, text)
        logger.info("mail.kept", extra={"subject": subject, "file": path.name})
        return
    config = parse_smtp_url(settings.smtp_url)
    try:
        await aiosmtplib.send(
            message,
            hostname=config.hostname,
            port=config.port,
            username=config.username,
            password=config.password,
            use_tls=config.use_tls,
            start_tls=config.start_tls,
            timeout=SMTP_TIMEOUT_SECONDS,
        )
    except (aiosmtplib.SMTPException, OSError) as exc:
        # The exception text can quote the server's reply, never our message body.
        raise MailError(f"{type(exc).__name__} talking to {config.hostname}:{config.port}") from exc
    logger.info("mail.sent", extra={"subject": subject, "smtp_host": config.hostname})


def _write_to_sink(directory: Path, message: EmailMessage, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    path = directory / f"{stamp}-{secrets.token_hex(4)}.eml"
    path.write_bytes(message.as_bytes())
    rule = "-" * 72
    print(
        f"{rule}\nEmail not sent (XTRACK_SMTP_URL is not set), kept in {path}\n"
        f"From: {message['From']}\nTo: {message['To']}\nSubject: {message['Subject']}\n\n"
        f"{text.rstrip()}\n{rule}",
        file=sys.stderr,
        flush=True,
    )
    return path
