"""API tokens, /me and the OpenAPI description of the users API."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import TEST_PASSWORD, auth_headers, make_user, signed_in
from xtrack.users import auth
from xtrack.users.models import ApiToken


async def test_token_is_shown_once_stored_hashed_and_revocable(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session, email="tok@example.com")
    await session.commit()
    created = await client.post(
        "/api/v1/auth/token", json={"email": "Tok@Example.com", "password": TEST_PASSWORD, "name": "laptop"}
    )
    assert created.status_code == 201
    body = created.json()
    plain = body["token"]
    assert plain.startswith("xt_") and body["name"] == "laptop" and plain.startswith(body["prefix"])
    stored = (await session.execute(select(ApiToken).where(ApiToken.id == body["id"]))).scalar_one()
    assert stored.token_hash == auth.hash_token(plain) and plain not in stored.token_hash

    headers = {"Authorization": f"Bearer {plain}"}
    me = await client.get("/api/v1/me", headers=headers)
    assert me.status_code == 200 and me.json()["email"] == "tok@example.com" and me.json()["id"] == user.id

    listed = await client.get("/api/v1/tokens", headers=headers)
    assert listed.status_code == 200
    assert [t["name"] for t in listed.json()] == ["laptop"]
    assert plain not in listed.text and "token_hash" not in listed.text

    assert (await client.delete(f"/api/v1/tokens/{body['id']}", headers=headers)).status_code == 204
    assert (await client.get("/api/v1/me", headers=headers)).status_code == 401


async def test_another_users_token_is_not_found(client: httpx.AsyncClient, session: AsyncSession) -> None:
    alice, bob = await make_user(session), await make_user(session)
    alice_headers = await auth_headers(session, alice)
    bob_headers = await auth_headers(session, bob)
    bob_token = (await client.get("/api/v1/tokens", headers=bob_headers)).json()[0]
    response = await client.delete(f"/api/v1/tokens/{bob_token['id']}", headers=alice_headers)
    assert response.status_code == 404
    assert (await client.get("/api/v1/me", headers=bob_headers)).status_code == 200


async def test_wrong_or_missing_credentials_are_401(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/me")).status_code == 401
    bad = await client.get("/api/v1/me", headers={"Authorization": "Bearer xt_not-a-token"})
    assert bad.status_code == 401 and bad.json()["detail"].startswith("Not authenticated")
    wrong = await client.post(
        "/api/v1/auth/token", json={"email": "nobody@example.com", "password": "whatever!!", "name": "x"}
    )
    assert wrong.status_code == 401 and wrong.json() == {"detail": "Email or password is incorrect."}


async def test_patch_me_changes_time_zone_and_theme(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session)
    headers = await auth_headers(session, user)
    response = await client.patch(
        "/api/v1/me", headers=headers, json={"timezone": "America/New_York", "theme": "dark"}
    )
    assert response.status_code == 200
    assert response.json()["timezone"] == "America/New_York" and response.json()["theme"] == "dark"
    bad_zone = await client.patch("/api/v1/me", headers=headers, json={"timezone": "Nowhere/Else"})
    assert bad_zone.status_code == 422
    bad_theme = await client.patch("/api/v1/me", headers=headers, json={"theme": "neon"})
    assert bad_theme.status_code == 422
    theme_only = await client.patch("/api/v1/me", headers=headers, json={"theme": "light"})
    assert theme_only.json()["timezone"] == "America/New_York" and theme_only.json()["theme"] == "light"


async def test_account_page_creates_shows_once_and_revokes_tokens(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session, email="page-tokens@example.com")
    csrf = await signed_in(client, session, user)
    empty = await client.post("/account/tokens", data={"csrf_token": csrf, "name": "  "})
    assert empty.status_code == 422 and 'href="#field-name"' in empty.text

    created = await client.post("/account/tokens", data={"csrf_token": csrf, "name": "backup script"})
    assert created.status_code == 200
    token = (await session.execute(select(ApiToken).where(ApiToken.user_id == user.id))).scalar_one()
    plain = created.text.split('id="new-token-value" type="text" readonly value="')[1].split('"')[0]
    assert auth.hash_token(plain) == token.token_hash
    page = await client.get("/account")
    assert "backup script" in page.text and plain not in page.text  # shown once only

    revoked = await client.post(f"/account/tokens/{token.id}/revoke", data={"csrf_token": csrf})
    assert revoked.status_code == 303
    assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {plain}"})).status_code == 401


async def test_account_settings_form(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session)
    csrf = await signed_in(client, session, user)
    bad = await client.post(
        "/account/settings", data={"csrf_token": csrf, "timezone": "Atlantis", "theme": "dark"}
    )
    assert bad.status_code == 422 and "not a known time zone" in bad.text
    ok = await client.post(
        "/account/settings", data={"csrf_token": csrf, "timezone": "Europe/Berlin", "theme": "dark"}
    )
    assert ok.status_code == 303
    page = await client.get("/account")
    assert 'data-theme="dark"' in page.text and "Settings saved." in page.text
    await session.refresh(user)
    assert user.timezone == "Europe/Berlin"


async def test_openapi_declares_the_error_responses(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    expected = {
        ("post", "/api/v1/auth/register"): {"422", "429"},
        ("post", "/api/v1/auth/token"): {"401", "403", "422", "429"},
        ("post", "/api/v1/auth/verify"): {"400", "422"},
        ("get", "/api/v1/me"): {"401"},
        ("delete", "/api/v1/tokens/{token_id}"): {"401", "404"},
        ("post", "/api/v1/auth/password-reset/request"): {"429"},
    }
    for (method, path), codes in expected.items():
        declared = set(paths[path][method]["responses"])
        assert codes <= declared, f"{method.upper()} {path} declares {declared}"
    assert "Retry-After" in paths["/api/v1/auth/token"]["post"]["responses"]["429"]["headers"]
    assert not any(path.startswith(("/signin", "/account", "/admin")) for path in paths)  # pages stay out
