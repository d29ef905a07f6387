"""Password reset by email (pages and API) and password change from the account page."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import TEST_PASSWORD, auth_headers, make_user, signed_in
from tests.fakes.smtp import Inbox
from tests.users.conftest import csrf_of, get_form, link_in, token_of
from xtrack.config import get_settings
from xtrack.db import utcnow
from xtrack.users import auth, service
from xtrack.users.models import ApiToken, UserStatus, WebSession


async def _count(session: AsyncSession, model: type[ApiToken] | type[WebSession], user_id: int) -> int:
    result = await session.scalar(select(func.count()).select_from(model).where(model.user_id == user_id))
    return int(result or 0)


async def test_reset_through_the_pages_revokes_everything_and_the_new_password_works(
    smtp_client: httpx.AsyncClient, inbox: Inbox, session: AsyncSession
) -> None:
    user = await make_user(session, email="forgetful@example.com")
    headers = await auth_headers(session, user)
    await auth.create_web_session(session, user=user, now=utcnow(), settings=get_settings())
    await session.commit()
    assert (await smtp_client.get("/api/v1/me", headers=headers)).status_code == 200

    csrf = await get_form(smtp_client, "/reset")
    requested = await smtp_client.post("/reset", data={"csrf_token": csrf, "email": "Forgetful@example.com"})
    assert requested.status_code == 303
    answer = (await smtp_client.get(requested.headers["location"])).text
    assert "If an account exists for forgetful@example.com" in answer

    message = inbox.last_to("forgetful@example.com")
    assert message["Subject"] == "Reset your XTrack password"
    link = link_in(message)
    assert link.startswith("/reset/confirm?token=")
    form = await smtp_client.get(link)
    assert form.status_code == 200 and "forgetful@example.com" in form.text

    too_short = await smtp_client.post(
        "/reset/confirm",
        data={"csrf_token": csrf_of(form.text), "token": token_of(link), "password": "short"},
    )
    assert too_short.status_code == 422 and "at least 10 characters" in too_short.text
    done = await smtp_client.post(
        "/reset/confirm",
        data={"csrf_token": csrf_of(form.text), "token": token_of(link), "password": "my new long password"},
    )
    assert done.status_code == 303 and done.headers["location"] == "/signin"

    assert (await smtp_client.get("/api/v1/me", headers=headers)).status_code == 401
    assert await _count(session, ApiToken, user.id) == 0 and await _count(session, WebSession, user.id) == 0
    old = await smtp_client.post(
        "/api/v1/auth/token", json={"email": user.email, "password": TEST_PASSWORD, "name": "x"}
    )
    assert old.status_code == 401
    new = await smtp_client.post(
        "/api/v1/auth/token", json={"email": user.email, "password": "my new long password", "name": "x"}
    )
    assert new.status_code == 201
    reused = await smtp_client.get(link)
    assert reused.status_code == 400 and "already been used" in reused.text


async def test_reset_request_answers_the_same_whether_or_not_the_account_exists(
    smtp_client: httpx.AsyncClient, inbox: Inbox, session: AsyncSession
) -> None:
    await make_user(session, email="exists@example.com")
    await make_user(session, email="suspended@example.com", status=UserStatus.SUSPENDED)
    await session.commit()
    api_answers = []
    for email in ["exists@example.com", "ghost@example.com", "suspended@example.com"]:
        response = await smtp_client.post("/api/v1/auth/password-reset/request", json={"email": email})
        api_answers.append((response.status_code, response.json()))
    assert api_answers[0] == api_answers[1] == api_answers[2] and api_answers[0][0] == 202

    pages = []
    for email in ["exists@example.com", "ghost@example.com"]:
        csrf = await get_form(smtp_client, "/reset")
        response = await smtp_client.post("/reset", data={"csrf_token": csrf, "email": email})
        shown = (await smtp_client.get(response.headers["location"])).text
        pages.append((response.status_code, response.headers["location"], shown.replace(email, "EMAIL")))
    assert pages[0] == pages[1]
    assert [m["To"] for m in inbox.messages] == ["exists@example.com", "exists@example.com"]


async def test_reset_through_the_api(
    smtp_client: httpx.AsyncClient, inbox: Inbox, session: AsyncSession
) -> None:
    user = await make_user(session, email="api-reset@example.com", status=UserStatus.UNVERIFIED)
    headers = await auth_headers(session, user)
    await smtp_client.post("/api/v1/auth/password-reset/request", json={"email": user.email})
    token = token_of(link_in(inbox.last_to(user.email)))
    bad = await smtp_client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": "api-reset@example.com"}
    )
    assert bad.status_code == 422  # the token survives a rejected password
    response = await smtp_client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": "fresh long password"}
    )
    assert response.status_code == 200
    assert (await smtp_client.get("/api/v1/me", headers=headers)).status_code == 401
    await session.refresh(user)
    assert user.status == UserStatus.ACTIVE  # the link proved the address
    again = await smtp_client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": "fresh long password 2"}
    )
    assert again.status_code == 400 and "already been used" in again.json()["detail"]


async def test_change_password_on_the_account_page(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session, email="changer@example.com")
    other_device = await auth.create_web_session(session, user=user, now=utcnow(), settings=get_settings())
    csrf = await signed_in(client, session, user)
    this_device = client.cookies[auth.SESSION_COOKIE]

    wrong = await client.post(
        "/account/password",
        data={"csrf_token": csrf, "current_password": "not it at all", "new_password": "a new long password"},
    )
    assert wrong.status_code == 422
    assert "current password is not correct" in wrong.text and 'href="#field-current_password"' in wrong.text

    response = await client.post(
        "/account/password",
        data={"csrf_token": csrf, "current_password": TEST_PASSWORD, "new_password": "a new long password"},
    )
    assert response.status_code == 303 and response.headers["location"] == "/account"
    assert "Password changed" in (await client.get("/account")).text  # still signed in here

    hashes = set((await session.execute(select(WebSession.token_hash))).scalars().all())
    assert auth.hash_token(this_device) in hashes and auth.hash_token(other_device) not in hashes
    session.expire_all()  # the app changed the row through its own session
    authenticated = await service.authenticate(
        session,
        email="changer@example.com",
        password="a new long password",
        now=utcnow(),
        settings=get_settings(),
    )
    assert authenticated.id == user.id


async def test_change_password_through_the_api(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session)
    headers = await auth_headers(session, user)
    wrong = await client.post(
        "/api/v1/me/password",
        headers=headers,
        json={"current_password": "wrong password", "new_password": "brand new password"},
    )
    assert wrong.status_code == 422
    ok = await client.post(
        "/api/v1/me/password",
        headers=headers,
        json={"current_password": TEST_PASSWORD, "new_password": "brand new password"},
    )
    assert ok.status_code == 204
    assert (await client.get("/api/v1/me", headers=headers)).status_code == 200  # API tokens are kept
