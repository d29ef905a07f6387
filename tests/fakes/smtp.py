"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it receives: the stand-in for the
mail provider in every test that sends email. The ``smtp_server`` fixture (tests/conftest.py) runs one."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.fakes.server import free_port


class Inbox:
    """An aiosmtpd handler keeping every message it receives, newest last."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.port = 0  # set by running_smtp_server
        self._lock = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.messages.append(message)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self._lock.notify_all()
        return "250 Message accepted"

    def matching(self, *, to: str | None = None, subject: str | None = None) -> list[EmailMessage]:
        """Messages whose To contains ``to`` and Subject contains ``subject`` (any case)."""
        with self._lock:
            return [
                m
                for m in self.messages
                if (to is None or to.lower() in str(m.get("To", "")).lower())
                and (subject is None or subject.lower() in str(m.get("Subject", "")).lower())
            ]

    def wait_for(
        self, *, to: str | None = None, subject: str | None = None, timeout: float = 10
    ) -> EmailMessage:
        """The newest message matching ``to``/``subject``, waiting up to ``timeout`` s for it (a
        server in another process sends it)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = self.matching(to=to, subject=subject)
                if found:
                    return found[-1]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    subjects = [f"{m.get('Subject')} -> {m.get('To')}" for m in self.messages]
                    raise AssertionError(f"no email to={to!r} subject~{subject!r}; received: {subjects}")
                self._lock.wait(remaining)

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if m["To"] == address]

    def last_to(self, address: str) -> EmailMessage:
        received = self.to(address)
        assert received, f"no email to {address}; got {[m['To'] for m in self.messages]}"
        return received[-1]


@contextmanager
def running_smtp_server() -> Iterator[tuple[Inbox, str]]:
    """An SMTP server in its own thread; yields its inbox and ``smtp://127.0.0.1:port``."""
    inbox = Inbox()
    port = inbox.port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, f"smtp://127.0.0.1:{port}"
    finally:
        controller.stop()
