"""Web sign-in: cookies, sessions, redirects, statuses, rehashing and rate limits."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import TEST_PASSWORD, current_database, make_user
from tests.users.conftest import client_for, get_form
from xtrack.config import Settings, get_settings
from xtrack.db import utcnow
from xtrack.users import auth
from xtrack.users.models import UserStatus, WebSession
from xtrack.users.pages import safe_next
from xtrack.web.app import create_app


async def _sign_in(client: httpx.AsyncClient, email: str, password: str, next: str = "") -> httpx.Response:
    csrf = await get_form(client, "/signin" + (f"?next={next}" if next else ""))
    data = {"csrf_token": csrf, "email": email, "password": password}
    if next:
        data["next"] = next
    return await client.post("/signin", data=data)


async def test_sign_in_sets_a_safe_session_cookie_and_updates_last_login(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session, email="ada@example.com")
    await session.commit()
    assert user.last_login_at is None
    response = await _sign_in(client, "ADA@example.com ", TEST_PASSWORD)
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith(auth.SESSION_COOKIE))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    value = response.cookies[auth.SESSION_COOKIE]
    stored = (await session.execute(select(WebSession.token_hash))).scalars().all()
    assert auth.hash_token(value) in stored and value not in stored  # only the hash is kept
    await session.refresh(user)
    assert user.last_login_at is not None

    account = await client.get("/account")
    assert account.status_code == 200 and "ada@example.com" in account.text
    assert "You are signed in." in account.text  # the flash, shown once
    assert "You are signed in." not in (await client.get("/account")).text


async def test_session_cookie_is_secure_when_the_base_url_is_https(
    configure: Callable[..., Settings], session: AsyncSession
) -> None:
    settings = configure(base_url="https://xtrack.example.com")
    await make_user(session, email="tls@example.com")
    await session.commit()
    async with await client_for(settings, base_url="https://testserver") as client:
        response = await _sign_in(client, "tls@example.com", TEST_PASSWORD)
    assert response.status_code == 303
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith(auth.SESSION_COOKIE))
    assert "Secure" in cookie and "HttpOnly" in cookie


async def test_wrong_password_and_unknown_email_get_the_same_answer(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await make_user(session, email="known@example.com")
    await session.commit()
    wrong = await _sign_in(client, "known@example.com", "not the password")
    unknown = await _sign_in(client, "unknown@example.com", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert (
        "Email or password is incorrect." in wrong.text and "Email or password is incorrect." in unknown.text
    )
    assert 'value="known@example.com"' in wrong.text  # the email is kept


async def test_suspended_user_cannot_sign_in_and_is_told_why(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await make_user(session, email="gone@example.com", status=UserStatus.SUSPENDED)
    await session.commit()
    response = await _sign_in(client, "gone@example.com", TEST_PASSWORD)
    assert response.status_code == 403 and "suspended" in response.text
    assert auth.SESSION_COOKIE not in response.cookies
    api = await client.post(
        "/api/v1/auth/token", json={"email": "gone@example.com", "password": TEST_PASSWORD, "name": "x"}
    )
    assert api.status_code == 403 and "suspended" in api.json()["detail"]


async def test_next_is_followed_only_when_it_is_a_local_path(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await make_user(session, email="next@example.com")
    await session.commit()
    response = await _sign_in(client, "next@example.com", TEST_PASSWORD, next="/account?tab=tokens")
    assert response.headers["location"] == "/account?tab=tokens"
    client.cookies.clear()
    evil = await _sign_in(client, "next@example.com", TEST_PASSWORD, next="//evil.example.com/x")
    assert evil.headers["location"] == "/"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/jobs/3?x=1", "/jobs/3?x=1"),
        ("https://evil.example.com/", "/"),
        ("//evil.example.com", "/"),
        ("/\\evil.example.com", "/"),
        ("javascript:alert(1)", "/"),
        ("", "/"),
        ("/ok\r\nSet-Cookie: x=1", "/"),
    ],
)
def test_safe_next(value: str, expected: str) -> None:
    assert safe_next(value) == expected


async def test_anonymous_page_visit_redirects_to_sign_in_with_next(client: httpx.AsyncClient) -> None:
    response = await client.get("/account")
    assert response.status_code == 303 and response.headers["location"] == "/signin?next=%2Faccount"
    form = await client.get(response.headers["location"])
    assert 'name="next" value="/account"' in form.text


async def test_sign_out_ends_the_server_side_session(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await make_user(session, email="bye@example.com")
    await session.commit()
    signin = await _sign_in(client, "bye@example.com", TEST_PASSWORD)
    cookie = signin.cookies[auth.SESSION_COOKIE]
    account = await client.get("/account")
    assert 'action="/signout"' in account.text
    csrf = account.text.split('name="csrf_token" value="')[1].split('"')[0]
    response = await client.post("/signout", data={"csrf_token": csrf})
    assert response.status_code == 303
    remaining = await session.scalar(
        select(func.count()).select_from(WebSession).where(WebSession.token_hash == auth.hash_token(cookie))
    )
    assert remaining == 0
    # Even a client that kept the old cookie is signed out.
    client.cookies.set(auth.SESSION_COOKIE, cookie)
    assert (await client.get("/account")).status_code == 303


async def test_password_is_rehashed_on_sign_in_when_parameters_change(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session, email="old-hash@example.com")
    user.password_hash = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1).hash(TEST_PASSWORD)
    await session.commit()
    old_hash = user.password_hash
    response = await _sign_in(client, "old-hash@example.com", TEST_PASSWORD)
    assert response.status_code == 303
    await session.refresh(user)
    settings = get_settings()
    assert user.password_hash != old_hash
    assert f"m={settings.argon2_memory_kib},t={settings.argon2_time_cost}" in user.password_hash


async def test_twenty_wrong_passwords_are_rate_limited_then_the_window_passes(
    configure: Callable[..., Settings], session: AsyncSession
) -> None:
    settings = configure(signin_rate_limit="5 per 2 seconds")
    await make_user(session, email="target@example.com")
    await session.commit()
    async with await client_for(settings) as client:
        csrf = await get_form(client, "/signin")
        statuses = []
        for _ in range(20):
            response = await client.post(
                "/signin", data={"csrf_token": csrf, "email": "target@example.com", "password": "guess guess"}
            )
            statuses.append(response.status_code)
        assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}
        assert 1 <= int(response.headers["Retry-After"]) <= 2
        assert "Too many attempts" in response.text

        # The right password is refused too while the window is full (no oracle for guessing)...
        right = await client.post(
            "/signin", data={"csrf_token": csrf, "email": "target@example.com", "password": TEST_PASSWORD}
        )
        assert right.status_code == 429
        api = await client.post(
            "/api/v1/auth/token", json={"email": "target@example.com", "password": TEST_PASSWORD, "name": "x"}
        )
        assert api.status_code == 429 and api.headers["Retry-After"]

        # ...and works once the window has moved on: no permanent lock-out.
        await asyncio.sleep(2.2)
        right = await client.post(
            "/signin", data={"csrf_token": csrf, "email": "target@example.com", "password": TEST_PASSWORD}
        )
        assert right.status_code == 303


async def test_the_per_address_ceiling_counts_across_emails(
    configure: Callable[..., Settings], session: AsyncSession
) -> None:
    settings = configure(signin_address_rate_limit="3 per 10 seconds")
    async with await client_for(settings) as client:
        for email in ["a@example.com", "b@example.com", "c@example.com"]:
            response = await client.post(
                "/api/v1/auth/token", json={"email": email, "password": "wrong password", "name": "x"}
            )
            assert response.status_code == 401
        sprayed = await client.post(
            "/api/v1/auth/token", json={"email": "d@example.com", "password": "wrong password", "name": "x"}
        )
        assert sprayed.status_code == 429 and 1 <= int(sprayed.headers["Retry-After"]) <= 10


async def test_guesses_from_ten_addresses_do_not_lock_the_owner_out(session: AsyncSession) -> None:
    """Finding 6: the limit is per (account, address) with a per-address ceiling, so ten wrong
    passwords from ten addresses leave the owner, elsewhere, able to sign in (default limits)."""
    await make_user(session, email="owner@example.com")
    await session.commit()
    app = create_app(get_settings(), database=current_database())

    def from_address(ip: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(ip, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://testserver")

    wrong = {"email": "owner@example.com", "password": "wrong password", "name": "x"}
    for n in range(1, 11):
        async with from_address(f"203.0.113.{n}") as attacker:
            assert (await attacker.post("/api/v1/auth/token", json=wrong)).status_code == 401
    async with from_address("198.51.100.7") as owner:
        csrf = await get_form(owner, "/signin")
        signed = await owner.post(
            "/signin", data={"csrf_token": csrf, "email": "owner@example.com", "password": TEST_PASSWORD}
        )
        assert signed.status_code == 303
    # From one address, the account is still throttled after ten guesses.
    async with from_address("203.0.113.1") as attacker:
        for _ in range(9):
            await attacker.post("/api/v1/auth/token", json=wrong)
        assert (await attacker.post("/api/v1/auth/token", json=wrong)).status_code == 429


async def test_web_sessions_end_when_idle_and_at_the_absolute_limit(session: AsyncSession) -> None:
    settings = get_settings()
    user = await make_user(session)
    start = utcnow()
    idle = timedelta(minutes=settings.session_idle_minutes)

    idle_cookie = await auth.create_web_session(session, user=user, now=start, settings=get_settings())
    assert await auth.user_for_web_session(
        session, idle_cookie, now=start + idle - timedelta(minutes=1), settings=get_settings()
    )
    later = start + idle - timedelta(minutes=1) + idle + timedelta(minutes=1)
    assert await auth.user_for_web_session(session, idle_cookie, now=later, settings=get_settings()) is None

    busy_cookie = await auth.create_web_session(session, user=user, now=start, settings=get_settings())
    now = start
    while now < start + timedelta(days=settings.session_max_days) - timedelta(days=1):
        now += timedelta(days=1)  # used every day: never idle
        assert (
            await auth.user_for_web_session(session, busy_cookie, now=now, settings=get_settings())
            is not None
        )
    end = start + timedelta(days=settings.session_max_days)
    assert await auth.user_for_web_session(session, busy_cookie, now=end, settings=get_settings()) is None
