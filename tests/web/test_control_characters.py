"""A NUL (or any other C0 control character) in free text is a 422 naming the field at every entry
point, API and forms, never the 500 PostgreSQL's "invalid byte sequence" used to give."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import TEST_PASSWORD, auth_headers, make_job, make_user, signed_in
from xtrack.config import get_settings
from xtrack.db import utcnow
from xtrack.notify import targets as targets_service
from xtrack.notify.schemas import TargetCreate

NUL = "\x00"


def _names_field(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, (response.status_code, response.text[:300])
    if response.headers["content-type"].startswith("application/json"):
        locations = [error["loc"][-1] for error in response.json()["detail"]]
        assert field in locations, response.json()
        assert "control characters" in response.text
    else:
        assert "control characters" in response.text, response.text[-2000:]
        assert field.replace("_", " ").capitalize() in response.text


API_CASES: list[tuple[str, str, dict[str, Any], str]] = [
    ("POST", "/api/v1/jobs", {"x_username": "alice", "topics": [f"a{NUL}i"]}, "topics"),
    ("POST", "/api/v1/jobs", {"x_username": "alice", "frequency": f"1h{NUL}"}, "frequency"),
    ("PATCH", "/api/v1/jobs/{job}", {"topics": [f"chips{NUL}"]}, "topics"),
    ("POST", "/api/v1/playground/runs", {"x_username": "alice", "topics": [f"{NUL}ai"]}, "topics"),
    (
        "POST",
        "/api/v1/targets",
        {"kind": "apprise", "name": f"ph{NUL}one", "url": "json://example.com/h"},
        "name",
    ),
    (
        "POST",
        "/api/v1/targets",
        {"kind": "apprise", "name": "phone", "url": f"json://example.com/{NUL}"},
        "url",
    ),
    ("POST", "/api/v1/targets", {"kind": "email", "name": "me", "email": f"a{NUL}@example.com"}, "email"),
    ("PATCH", "/api/v1/targets/{target}", {"name": f"team{NUL}\x1b"}, "name"),
    ("POST", "/api/v1/feeds", {"name": f"reader{NUL}"}, "name"),
    ("PATCH", "/api/v1/me", {"timezone": f"Europe/Paris{NUL}"}, "timezone"),
    ("POST", "/api/v1/auth/register", {"email": f"new{NUL}@example.com", "password": TEST_PASSWORD}, "email"),
    ("POST", "/api/v1/auth/password-reset/request", {"email": f"x{NUL}@example.com"}, "email"),
    ("POST", "/api/v1/auth/resend-verification", {"email": f"x{NUL}@example.com"}, "email"),
    ("POST", "/api/v1/auth/verify", {"token": f"abc{NUL}"}, "token"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), API_CASES)
async def test_api_refuses_control_characters_naming_the_field(
    client: httpx.AsyncClient, session: AsyncSession, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    user = await make_user(session)
    job = await make_job(session, owner=user)
    target = await targets_service.create_target(
        session,
        user=user,
        data=TargetCreate(kind="apprise", name="t", url="json://127.0.0.1:9/hook"),
        settings=get_settings(),
        now=utcnow(),
    )
    headers = await auth_headers(session, user)
    url = path.format(job=job.id, target=target.id)
    _names_field(await client.request(method, url, json=body, headers=headers), field)


async def test_a_token_name_with_a_control_character_is_refused(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    await session.commit()
    body = {"email": user.email, "password": TEST_PASSWORD, "name": f"lap{NUL}top"}
    _names_field(await client.post("/api/v1/auth/token", json=body), "name")


FORM_CASES: list[tuple[str, dict[str, str], str]] = [
    (
        "/jobs",
        {"x_username": "alice", "topics": f"ai\nchips{NUL}", "frequency": "1h", "language": "en"},
        "topics",
    ),
    (
        "/jobs",
        {"x_username": f"al{NUL}ice", "topics": "ai", "frequency": "1h", "language": "en"},
        "x_username",
    ),
    (
        "/jobs/{job}/edit",
        {"x_username": "alice", "topics": f"{NUL}", "frequency": "1h", "language": "en"},
        "topics",
    ),
    ("/targets", {"kind": "apprise", "name": f"ph{NUL}one", "url": "json://example.com/h"}, "name"),
    ("/targets", {"kind": "apprise", "name": "phone", "url": f"json://example.com/{NUL}"}, "url"),
    ("/targets/{target}/edit", {"name": f"x{NUL}", "url": "", "is_enabled": "on"}, "name"),
    ("/account/tokens", {"name": f"lap{NUL}top"}, "name"),
    ("/account/settings", {"timezone": f"UTC{NUL}", "theme": "dark"}, "timezone"),
    (
        "/playground",
        {"x_username": "alice", "topics": f"a{NUL}i", "hours_back": "24", "language": "en"},
        "topics",
    ),
]


@pytest.mark.parametrize(("path", "form", "field"), FORM_CASES)
async def test_forms_refuse_control_characters_naming_the_field(
    client: httpx.AsyncClient, session: AsyncSession, path: str, form: dict[str, str], field: str
) -> None:
    user = await make_user(session)
    job = await make_job(session, owner=user)
    target = await targets_service.create_target(
        session,
        user=user,
        data=TargetCreate(kind="apprise", name="t", url="json://127.0.0.1:9/hook"),
        settings=get_settings(),
        now=utcnow(),
    )
    csrf = await signed_in(client, session, user)
    url = path.format(job=job.id, target=target.id)
    _names_field(await client.post(url, data={**form, "csrf_token": csrf}), field)


@pytest.mark.parametrize(
    ("path", "form", "field"),
    [
        ("/register", {"email": f"new{NUL}@example.com", "password": TEST_PASSWORD}, "email"),
        ("/signin", {"email": f"who{NUL}@example.com", "password": TEST_PASSWORD}, "email"),
        ("/reset", {"email": f"who{NUL}@example.com"}, "email"),
    ],
)
async def test_anonymous_forms_refuse_control_characters(
    client: httpx.AsyncClient, path: str, form: dict[str, str], field: str
) -> None:
    page = await client.get(path)
    csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    _names_field(await client.post(path, data={**form, "csrf_token": csrf}), field)


async def test_a_topics_textarea_keeps_its_newlines(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session)
    csrf = await signed_in(client, session, user)
    form = {"x_username": "alice", "topics": "ai\r\nchips\nmore chips", "frequency": "1h", "language": "en"}
    response = await client.post("/jobs", data={**form, "csrf_token": csrf})
    assert response.status_code == 303, response.text[-500:]


async def test_the_admin_search_refuses_control_characters(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    admin = await make_user(session, is_admin=True)
    await signed_in(client, session, admin)
    _names_field(await client.get("/admin", params={"q": f"ada{NUL}"}), "q")
