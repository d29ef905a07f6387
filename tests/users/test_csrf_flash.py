"""CSRF on every form and the flash messages of Post/Redirect/Get."""

from __future__ import annotations

import re

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import TEST_PASSWORD, make_user, signed_in
from tests.users.conftest import csrf_of
from xtrack.config import get_settings
from xtrack.users import auth
from xtrack.web import csrf


async def test_form_post_without_or_with_a_wrong_token_is_rejected(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session, email="csrf@example.com")
    token = await signed_in(client, session, user)
    missing = await client.post("/account/tokens", data={"name": "forged-token"})
    assert missing.status_code == 403 and "This form has expired" in missing.text
    wrong = await client.post("/account/tokens", data={"name": "forged-token", "csrf_token": "0" * 64})
    assert wrong.status_code == 403
    # A token made for another session does not fit this one.
    other = csrf.token_for("someone-elses-session", get_settings())
    assert (
        await client.post("/account/tokens", data={"name": "forged-token", "csrf_token": other})
    ).status_code == 403
    assert "forged-token" not in (await client.get("/account")).text
    ok = await client.post("/account/tokens", data={"name": "fine", "csrf_token": token})
    assert ok.status_code == 200
    header = await client.post("/account/tokens", data={"name": "by-header"}, headers={"X-CSRF-Token": token})
    assert header.status_code == 200


async def test_anonymous_forms_use_a_bound_cookie(client: httpx.AsyncClient, session: AsyncSession) -> None:
    await make_user(session, email="anon@example.com")
    await session.commit()
    page = await client.get("/signin")
    cookie = next(h for h in page.headers.get_list("set-cookie") if h.startswith(csrf.CSRF_COOKIE))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    token = csrf_of(page.text)
    # The same page again keeps the same binding (no new cookie, same token).
    again = await client.get("/signin")
    assert csrf.CSRF_COOKIE not in again.cookies and csrf_of(again.text) == token

    data = {"email": "anon@example.com", "password": TEST_PASSWORD}
    no_cookie = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    async with no_cookie:
        forged = await no_cookie.post("/signin", data={**data, "csrf_token": token})  # an attacker's page
    assert forged.status_code == 403 and auth.SESSION_COOKIE not in forged.cookies
    assert (await client.post("/signin", data=data)).status_code == 403
    assert (await client.post("/signin", data={**data, "csrf_token": token})).status_code == 303


async def test_every_post_form_on_the_pages_carries_a_token(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    admin = await make_user(session, email="forms@example.com", is_admin=True)
    await signed_in(client, session, admin)
    await client.post("/account/tokens", data={"name": "t"}, headers={"X-CSRF-Token": await _token(client)})
    for path in ["/account", "/admin", "/verify-notice"]:
        html = (await client.get(path)).text
        forms = re.findall(r"<form[^>]*method=\"post\"[^>]*>.*?</form>", html, flags=re.S)
        assert forms, path
        for form in forms:
            assert 'name="csrf_token"' in form, f"{path}: {form[:80]}"
    client.cookies.clear()
    for path in ["/signin", "/register", "/reset"]:
        html = (await client.get(path)).text
        forms = re.findall(r"<form[^>]*method=\"post\"[^>]*>.*?</form>", html, flags=re.S)
        assert forms and all('name="csrf_token"' in f for f in forms), path


async def _token(client: httpx.AsyncClient) -> str:
    return csrf_of((await client.get("/account")).text)


async def test_flash_survives_one_redirect_only(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session)
    token = await signed_in(client, session, user)
    response = await client.post(
        "/account/settings", data={"csrf_token": token, "timezone": "UTC", "theme": "light"}
    )
    assert response.status_code == 303 and "xtrack_flash" in response.cookies
    shown = await client.get("/account")
    assert "Settings saved." in shown.text and 'class="flash flash-success"' in shown.text
    assert "Settings saved." not in (await client.get("/account")).text


async def test_a_forged_flash_cookie_is_ignored(client: httpx.AsyncClient) -> None:
    client.cookies.set("xtrack_flash", '[{"kind":"success","message":"Forged"}]')
    page = await client.get("/signin")
    assert page.status_code == 200 and "Forged" not in page.text


async def test_pages_have_no_inline_script_or_style(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session, is_admin=True)
    await signed_in(client, session, user)
    pages = ["/account", "/admin", "/verify-notice"]
    htmls = [(await client.get(p)).text for p in pages]
    client.cookies.clear()
    htmls += [(await client.get(p)).text for p in ["/signin", "/register", "/reset", "/verify?token=x"]]
    for html in htmls:
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
        assert " style=" not in html and "<style" not in html
        assert not re.search(r"\son[a-z]+=", html)


async def test_register_page_has_the_time_zone_field_for_the_static_script(client: httpx.AsyncClient) -> None:
    page = (await client.get("/register")).text
    assert 'name="timezone"' in page and "data-browser-timezone" in page
    script = (await client.get("/static/js/app.js")).text
    assert "resolvedOptions().timeZone" in script and "data-browser-timezone" in script
