"""Registration and email verification, through the pages and through the API, with real SMTP."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import make_user, signed_in
from tests.fakes.smtp import Inbox
from tests.users.conftest import csrf_of, get_form, link_in, token_of
from xtrack.users import auth
from xtrack.users.models import EmailToken, User, UserStatus


async def _user(session: AsyncSession, email: str) -> User:
    session.expire_all()
    user = (await session.execute(select(User).where(User.email == email))).scalar_one()
    return user


async def test_register_through_the_pages_then_follow_the_emailed_link(
    smtp_client: httpx.AsyncClient, inbox: Inbox, session: AsyncSession
) -> None:
    csrf = await get_form(smtp_client, "/register")
    response = await smtp_client.post(
        "/register",
        data={
            "csrf_token": csrf,
            "email": "  Grace@Example.COM ",
            "password": "a long enough password",
            "timezone": "Europe/Paris",
        },
    )
    # Not signed in: a session cookie would tell a new address from one that has an account.
    assert response.status_code == 303 and response.headers["location"] == "/signin"
    assert auth.SESSION_COOKIE not in response.cookies

    user = await _user(session, "grace@example.com")
    assert user.status == UserStatus.UNVERIFIED and user.timezone == "Europe/Paris"

    notice = await smtp_client.get("/signin")
    assert notice.status_code == 200
    assert "we sent a message to grace@example.com" in notice.text  # the flash

    message = inbox.last_to("grace@example.com")
    assert message["From"] == "XTrack <noreply@xtrack.test>"
    assert message["Subject"] == "Confirm your email address for XTrack"
    assert message.get_content_type() == "multipart/alternative"
    html = message.get_body(preferencelist=("html",))
    assert html is not None and "<a href=" in html.get_content()
    link = link_in(message)
    assert link.startswith("/verify?token=")

    # Opening the link shows a button (a GET does not use the token up)...
    page = await smtp_client.get(link)
    assert page.status_code == 200 and "grace@example.com" in page.text
    assert (await _user(session, "grace@example.com")).status == UserStatus.UNVERIFIED
    # ...which confirms the address.
    confirmed = await smtp_client.post(
        "/verify", data={"csrf_token": csrf_of(page.text), "token": token_of(link)}
    )
    assert confirmed.status_code == 303 and confirmed.headers["location"] == "/signin"
    assert (await _user(session, "grace@example.com")).status == UserStatus.ACTIVE
    # The token was stored hashed, never in clear.
    stored = (await session.execute(select(EmailToken.token_hash))).scalars().all()
    assert token_of(link) not in stored and auth.hash_token(token_of(link)) in stored


async def test_register_through_the_api_then_verify(
    smtp_client: httpx.AsyncClient, inbox: Inbox, session: AsyncSession
) -> None:
    response = await smtp_client.post(
        "/api/v1/auth/register",
        json={"email": "Hopper@Example.com", "password": "another long password", "timezone": "Asia/Tokyo"},
    )
    assert response.status_code == 202, response.text
    assert "Check your email" in response.json()["detail"]
    user = await _user(session, "hopper@example.com")
    assert user.status == UserStatus.UNVERIFIED and user.timezone == "Asia/Tokyo"

    token = token_of(link_in(inbox.last_to("hopper@example.com")))
    verified = await smtp_client.post("/api/v1/auth/verify", json={"token": token})
    assert verified.status_code == 200 and verified.json()["status"] == "ACTIVE"
    assert (await _user(session, "hopper@example.com")).status == UserStatus.ACTIVE


async def test_resend_from_the_notice_page_sends_a_new_working_link(
    smtp_client: httpx.AsyncClient, inbox: Inbox, session: AsyncSession
) -> None:
    user = await make_user(session, email="resend@example.com", status=UserStatus.UNVERIFIED)
    csrf = await signed_in(smtp_client, session, user)
    response = await smtp_client.post("/verify-notice", data={"csrf_token": csrf})
    assert response.status_code == 303
    assert len(inbox.to("resend@example.com")) == 1
    token = token_of(link_in(inbox.last_to("resend@example.com")))
    assert (await smtp_client.post("/api/v1/auth/verify", json={"token": token})).status_code == 200
    assert (await _user(session, "resend@example.com")).status == UserStatus.ACTIVE


async def test_api_resend_answers_the_same_for_unknown_and_verified_emails(
    smtp_client: httpx.AsyncClient, inbox: Inbox, session: AsyncSession
) -> None:
    await make_user(session, email="pending@example.com", status=UserStatus.UNVERIFIED)
    await make_user(session, email="done@example.com", status=UserStatus.ACTIVE)
    await session.commit()
    answers = []
    for email in ["pending@example.com", "done@example.com", "nobody@example.com"]:
        response = await smtp_client.post("/api/v1/auth/resend-verification", json={"email": email})
        answers.append((response.status_code, response.json()))
    assert answers[0] == answers[1] == answers[2] and answers[0][0] == 202
    assert [m["To"] for m in inbox.messages] == ["pending@example.com"]


async def test_register_form_errors_keep_the_input_and_link_to_the_fields(client: httpx.AsyncClient) -> None:
    csrf = await get_form(client, "/register")
    response = await client.post(
        "/register", data={"csrf_token": csrf, "email": "not-an-email", "password": "short"}
    )
    assert response.status_code == 422
    html = response.text
    assert 'value="not-an-email"' in html  # input kept
    assert 'class="error-summary"' in html
    assert 'href="#field-email"' in html and 'href="#field-password"' in html
    assert re.search(
        r'id="field-email"[^>]*aria-describedby="field-email-error"[^>]*aria-invalid="true"', html
    )
    assert 'id="field-password-error"' in html and "at least 10 characters" in html
    assert "short" not in re.findall(r'value="([^"]*)"', html)  # a password is never echoed back


async def test_register_rejects_the_email_as_password(client: httpx.AsyncClient) -> None:
    same = await client.post(
        "/api/v1/auth/register", json={"email": "echo@example.com", "password": "ECHO@example.com "}
    )
    assert same.status_code == 422 and "must not be your email" in same.json()["detail"]


async def test_registration_answers_the_same_for_a_taken_email_and_tells_its_owner(
    smtp_client: httpx.AsyncClient, inbox: Inbox, session: AsyncSession
) -> None:
    """Finding 12: no 409 telling who has an account; the owner learns of the attempt by email."""
    owner = await make_user(session, email="taken@example.com")
    owner_hash = owner.password_hash
    await session.commit()
    password = "a long enough password"
    answers = []
    for email in [" TAKEN@example.com", "fresh@example.com"]:
        response = await smtp_client.post(
            "/api/v1/auth/register", json={"email": email, "password": password}
        )
        answers.append((response.status_code, response.json()))
    assert answers[0] == answers[1] and answers[0][0] == 202

    pages = []
    for email in ["taken@example.com", "fresh-page@example.com"]:
        csrf = await get_form(smtp_client, "/register")
        page = await smtp_client.post(
            "/register", data={"csrf_token": csrf, "email": email, "password": password}
        )
        pages.append((page.status_code, page.headers["location"], auth.SESSION_COOKIE in page.cookies))
    assert pages[0] == pages[1] == (303, "/signin", False)

    # The owner was told twice, and nothing changed on the account.
    told = inbox.to("taken@example.com")
    assert len(told) == 2 and all("tried to create an XTrack account" in m["Subject"] for m in told)
    body = told[0].get_body(preferencelist=("plain",))
    assert body is not None and "/reset" in body.get_content() and "/signin" in body.get_content()
    assert (await _user(session, "taken@example.com")).password_hash == owner_hash
    assert [m["Subject"] for m in inbox.to("fresh@example.com")] == ["Confirm your email address for XTrack"]


async def test_register_with_an_unknown_browser_time_zone_falls_back_to_utc(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    csrf = await get_form(client, "/register")
    response = await client.post(
        "/register",
        data={
            "csrf_token": csrf,
            "email": "tz@example.com",
            "password": "a long enough password",
            "timezone": "Mars/Olympus",
        },
    )
    assert response.status_code == 303
    assert (await _user(session, "tz@example.com")).timezone == "UTC"
    api = await client.post(
        "/api/v1/auth/register",
        json={"email": "tz2@example.com", "password": "a long enough password", "timezone": "Mars/Olympus"},
    )
    assert api.status_code == 422 and "time zone" in api.json()["detail"]


async def test_unverified_user_can_sign_in_and_sees_the_verify_notice(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await make_user(session, email="unv@example.com", status=UserStatus.UNVERIFIED)
    await session.commit()
    token = await client.post(
        "/api/v1/auth/token",
        json={"email": "unv@example.com", "password": "correct horse battery", "name": "cli"},
    )
    assert token.status_code == 201
    headers = {"Authorization": f"Bearer {token.json()['token']}"}
    me = await client.get("/api/v1/me", headers=headers)
    assert me.status_code == 200 and me.json()["status"] == "UNVERIFIED"

    csrf = await get_form(client, "/signin")
    signin = await client.post(
        "/signin", data={"csrf_token": csrf, "email": "unv@example.com", "password": "correct horse battery"}
    )
    assert signin.status_code == 303 and signin.headers["location"] == "/verify-notice"
    account = await client.get("/account")
    assert account.status_code == 200 and "Confirm your email address" in account.text  # the banner
