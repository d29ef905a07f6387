"""Fixtures for the users tests: settings that send mail to the local SMTP server, page helpers."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.conftest import current_database
from tests.fakes.smtp import Inbox
from xtrack.config import Settings, set_settings
from xtrack.db import Database
from xtrack.web.app import create_app


def install(settings: Settings, **changes: Any) -> Settings:
    """Settings with ``changes``, installed as the process's settings."""
    changed = settings.model_copy(update=changes)
    set_settings(changed)
    return changed


@pytest.fixture
def configure(settings: Settings, db: Database) -> Iterator[Callable[..., Settings]]:
    """``configure(signin_rate_limit="5 per 2 seconds")``: change the installed settings for this test."""
    from xtrack.config import get_settings

    yield lambda **changes: install(get_settings(), **changes)
    set_settings(settings)


@pytest.fixture
def inbox(smtp_server: tuple[Inbox, str], settings: Settings, db: Database) -> Iterator[Inbox]:
    """Settings that send mail to the local SMTP server, installed for this test."""
    server, url = smtp_server
    install(settings, smtp_url=url, email_from="XTrack <noreply@xtrack.test>")
    try:
        yield server
    finally:
        set_settings(settings)


@pytest.fixture
async def smtp_client(inbox: Inbox, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """A client on an app whose settings send email to ``inbox``."""
    from xtrack.config import get_settings

    app = create_app(get_settings(), database=db)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        yield http


async def client_for(settings: Settings, base_url: str = "http://testserver") -> httpx.AsyncClient:
    """A client on a fresh app with ``settings`` (its own rate limiter); close it after use."""
    app = create_app(settings, database=current_database())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token of the (first) form on a page."""
    match = _CSRF.search(html)
    assert match, "the page has no CSRF field"
    return match.group(1)


def link_in(message: EmailMessage) -> str:
    """The link in an email's plain-text part, as a path + query for the test client."""
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    match = re.search(r"https?://\S+", body.get_content())
    assert match, "no link in the email"
    parts = urlsplit(match.group(0))
    return f"{parts.path}?{parts.query}"


def token_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


async def get_form(client: httpx.AsyncClient, path: str) -> str:
    """GET a page with a form; returns its CSRF token (the anonymous cookie is kept by the client)."""
    response = await client.get(path)
    assert response.status_code == 200, response.text
    return csrf_of(response.text)
