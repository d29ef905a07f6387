"""No password, email token, API token or session id ever reaches the logs or the terminal."""

from __future__ import annotations

import logging

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.fakes.smtp import Inbox
from tests.users.conftest import csrf_of, get_form, link_in, token_of
from xtrack.users import auth

# Loggers of the test's own counterparts, not of XTrack: aiosmtpd (the fake mail server) logs the
# SMTP conversation, i.e. the email it receives, and httpx logs the URLs the test client (playing the
# browser) opens, e.g. the reset link. XTrack itself runs uvicorn without an access log.
OTHER_PARTIES = ("mail.log", "httpx", "httpcore")


async def test_register_sign_in_and_reset_log_no_secret(
    smtp_client: httpx.AsyncClient,
    inbox: Inbox,
    session: AsyncSession,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    password = "Sup3r-secret passphrase"
    new_password = "An0ther secret passphrase"
    wrong_password = "Wr0ng guess passphrase"
    secrets: dict[str, str] = {"password": password, "new password": new_password, "wrong": wrong_password}

    csrf = await get_form(smtp_client, "/register")
    registered = await smtp_client.post(
        "/register", data={"csrf_token": csrf, "email": "quiet@example.com", "password": password}
    )
    assert registered.status_code == 303
    secrets["verify token"] = token_of(link_in(inbox.last_to("quiet@example.com")))
    verified = await smtp_client.post("/api/v1/auth/verify", json={"token": secrets["verify token"]})
    assert verified.status_code == 200

    smtp_client.cookies.clear()
    csrf = await get_form(smtp_client, "/signin")
    wrong = await smtp_client.post(
        "/signin", data={"csrf_token": csrf, "email": "quiet@example.com", "password": wrong_password}
    )
    assert wrong.status_code == 401
    signed = await smtp_client.post(
        "/signin", data={"csrf_token": csrf, "email": "quiet@example.com", "password": password}
    )
    assert signed.status_code == 303
    secrets["signin session"] = signed.cookies[auth.SESSION_COOKIE]
    token = await smtp_client.post(
        "/api/v1/auth/token", json={"email": "quiet@example.com", "password": password, "name": "cli"}
    )
    secrets["api token"] = token.json()["token"]

    reset = await smtp_client.post("/api/v1/auth/password-reset/request", json={"email": "quiet@example.com"})
    assert reset.status_code == 202
    link = link_in(inbox.last_to("quiet@example.com"))
    secrets["reset token"] = token_of(link)
    form = await smtp_client.get(link)
    done = await smtp_client.post(
        "/reset/confirm",
        data={"csrf_token": csrf_of(form.text), "token": secrets["reset token"], "password": new_password},
    )
    assert done.status_code == 303
    assert len(inbox.to("quiet@example.com")) == 2

    records = [r for r in caplog.records if not r.name.startswith(OTHER_PARTIES)]
    # Every attribute of every record (message, arguments, extra fields), and everything printed.
    logged = "\n".join(f"{r.getMessage()} {r.__dict__!r}" for r in records)
    printed = capsys.readouterr()
    formatted = "\n".join(caplog.handler.format(r) for r in records)
    everything = "\n".join([logged, formatted, printed.out, printed.err])
    events = {r.getMessage() for r in records}
    assert {"user.registered", "user.signed_in", "user.signin_failed", "mail.sent"} <= events  # not vacuous
    leaked = [name for name, value in secrets.items() if value in everything]
    assert leaked == [], f"secrets in the logs: {leaked}"
