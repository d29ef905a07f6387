"""Email links (verify, reset, sign-in): single use, expiry, unknown tokens; pages and API."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import make_user
from tests.users.conftest import csrf_of
from xtrack.config import get_settings
from xtrack.db import utcnow
from xtrack.users import auth, email_links, service
from xtrack.users.models import EmailTokenPurpose, UserStatus


async def _verify_token(session: AsyncSession, *, email: str, age: timedelta = timedelta(0)) -> str:
    user = await make_user(session, email=email, status=UserStatus.UNVERIFIED)
    token = await email_links.issue_email_token(
        session, user=user, purpose=EmailTokenPurpose.VERIFY, now=utcnow() - age
    )
    await session.commit()
    return token


async def test_expired_reused_and_unknown_verify_links_each_say_so_on_the_page(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    expired = await _verify_token(session, email="old@example.com", age=timedelta(hours=24, seconds=1))
    page = await client.get(f"/verify?token={expired}")
    assert page.status_code == 400 and "This link has expired" in page.text
    assert 'href="/verify-notice"' in page.text  # the way to get a new one

    fresh = await _verify_token(session, email="fresh@example.com")
    page = await client.get(f"/verify?token={fresh}")
    first = await client.post("/verify", data={"csrf_token": csrf_of(page.text), "token": fresh})
    assert first.status_code == 303
    again = await client.post("/verify", data={"csrf_token": csrf_of(page.text), "token": fresh})
    assert again.status_code == 400 and "already been used" in again.text
    assert (await client.get(f"/verify?token={fresh}")).status_code == 400

    unknown = await client.get("/verify?token=not-a-real-token")
    assert unknown.status_code == 400 and "This link is not valid" in unknown.text
    assert (await client.get("/verify")).status_code == 400


async def test_expired_reused_and_unknown_tokens_are_clear_json_errors(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    expired = await _verify_token(session, email="old2@example.com", age=timedelta(hours=25))
    response = await client.post("/api/v1/auth/verify", json={"token": expired})
    assert response.status_code == 400 and response.json() == {
        "detail": "This link has expired. Ask for a new one."
    }

    fresh = await _verify_token(session, email="fresh2@example.com")
    assert (await client.post("/api/v1/auth/verify", json={"token": fresh})).status_code == 200
    reused = await client.post("/api/v1/auth/verify", json={"token": fresh})
    assert reused.status_code == 400 and "already been used" in reused.json()["detail"]

    unknown = await client.post("/api/v1/auth/verify", json={"token": "nope"})
    assert unknown.status_code == 400 and "not valid" in unknown.json()["detail"]


async def test_a_token_only_works_for_its_own_purpose(session: AsyncSession) -> None:
    user = await make_user(session, status=UserStatus.UNVERIFIED)
    now = utcnow()
    reset = await email_links.issue_email_token(session, user=user, purpose=EmailTokenPurpose.RESET, now=now)
    with pytest.raises(email_links.InvalidLink) as caught:
        await service.verify_email(session, token=reset, now=now)
    assert caught.value.reason == "unknown"


async def test_reset_link_expires_after_one_hour(session: AsyncSession) -> None:
    user = await make_user(session)
    issued = utcnow()
    token = await email_links.issue_email_token(
        session, user=user, purpose=EmailTokenPurpose.RESET, now=issued
    )
    await email_links.check_email_token(
        session, token=token, purpose=EmailTokenPurpose.RESET, now=issued + timedelta(minutes=59)
    )
    with pytest.raises(email_links.InvalidLink) as caught:
        await service.reset_password(
            session,
            token=token,
            password="a brand new password",
            now=issued + timedelta(hours=1),
            settings=get_settings(),
        )
    assert caught.value.reason == "expired"


async def test_using_one_verify_link_retires_the_others(session: AsyncSession) -> None:
    user = await make_user(session, status=UserStatus.UNVERIFIED)
    now = utcnow()
    first = await email_links.issue_email_token(session, user=user, purpose=EmailTokenPurpose.VERIFY, now=now)
    second = await email_links.issue_email_token(
        session, user=user, purpose=EmailTokenPurpose.VERIFY, now=now
    )
    await service.verify_email(session, token=second, now=now)
    with pytest.raises(email_links.InvalidLink) as caught:
        await service.verify_email(session, token=first, now=now)
    assert caught.value.reason == "used"


async def test_login_link_signs_in_once(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session, email="demo@example.com", status=UserStatus.UNVERIFIED)
    url = await service.create_login_link(session, user, utcnow(), settings=get_settings())
    await session.commit()
    assert url.startswith("http://127.0.0.1:8000/login-link?token=")
    path = url.removeprefix("http://127.0.0.1:8000")

    page = await client.get(path)
    assert page.status_code == 200 and "demo@example.com" in page.text
    assert auth.SESSION_COOKIE not in page.cookies  # opening the link alone signs nobody in
    response = await client.post(
        "/login-link", data={"csrf_token": csrf_of(page.text), "token": path.split("token=")[1]}
    )
    assert response.status_code == 303 and auth.SESSION_COOKIE in response.cookies
    me = await client.get("/account")
    assert me.status_code == 200 and "demo@example.com" in me.text
    await session.refresh(user)
    assert user.status == UserStatus.ACTIVE and user.last_login_at is not None

    client.cookies.clear()
    reused = await client.get(path)
    assert reused.status_code == 400 and "already been used" in reused.text
