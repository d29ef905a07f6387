"""A NUL (or any other C0 control character) in free text is a 422 naming the field at every entry
point, API and forms, never the 500 PostgreSQL's "invalid byte sequence" used to give."""

from __future__ import annotations

from typing import Any, get_args

import httpx
import pytest
from fastapi import params
from fastapi._compat import ModelField
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import TEST_PASSWORD, auth_headers, make_job, make_user, signed_in
from xtrack.config import get_settings
from xtrack.db import utcnow
from xtrack.notify import targets as targets_service
from xtrack.notify.schemas import TargetCreate
from xtrack.text import check_multi_line, check_single_line
from xtrack.web.routes import API_ROUTERS, PAGE_ROUTERS

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


# Every field, not only the ones listed above: the request bodies' string fields (nested and in
# lists) and the pages' form fields, read from the routes themselves so a new one cannot be missed.


def _routes() -> list[APIRoute]:
    return [r for router in [*API_ROUTERS, *PAGE_ROUTERS] for r in router.routes if isinstance(r, APIRoute)]


def _params(dependant: Dependant) -> list[ModelField]:
    found = list(dependant.body_params)
    for sub in dependant.dependencies:
        found += _params(sub)
    return found


def _body_models() -> list[type[BaseModel]]:
    models: dict[str, type[BaseModel]] = {}
    for route in _routes():
        for param in _params(route.dependant):
            for model in get_args(param.field_info.annotation) or (param.field_info.annotation,):
                if isinstance(model, type) and issubclass(model, BaseModel):
                    models[model.__name__] = model
    return list(models.values())


def _with_nul(schema: dict[str, Any], definitions: dict[str, Any]) -> list[tuple[Any, tuple[str, ...]]]:
    """Values for ``schema`` with a NUL in one of their strings, each with where the NUL is."""
    if "$ref" in schema:
        schema = definitions[schema["$ref"].rsplit("/", 1)[1]]
    if "anyOf" in schema and "properties" not in schema:  # an object's anyOf says which are required
        return [case for option in schema["anyOf"] for case in _with_nul(option, definitions)]
    kind = schema.get("type")
    if kind == "string":
        return [(f"a{NUL}b", ())]
    if kind == "array":
        return [([value], path) for value, path in _with_nul(schema.get("items", {}), definitions)]
    if kind == "object" or "properties" in schema:
        return [
            ({name: value}, (name, *path))
            for name, sub in schema.get("properties", {}).items()
            for value, path in _with_nul(sub, definitions)
        ]
    return []


def _body_cases() -> list[tuple[type[BaseModel], Any, tuple[str, ...]]]:
    cases = []
    for model in _body_models():
        schema = model.model_json_schema()
        cases += [(model, body, path) for body, path in _with_nul(schema, schema.get("$defs", {}))]
    return cases


BODY_CASES = _body_cases()


@pytest.mark.parametrize(
    ("model", "body", "path"), BODY_CASES, ids=[f"{m.__name__}.{'.'.join(p)}" for m, _b, p in BODY_CASES]
)
def test_every_string_of_every_request_body_refuses_control_characters(
    model: type[BaseModel], body: Any, path: tuple[str, ...]
) -> None:
    with pytest.raises(ValidationError) as raised:
        model.model_validate(body)
    assert path[0] in [str(error["loc"][0]) for error in raised.value.errors()], raised.value.errors()


def test_the_walk_finds_the_request_bodies() -> None:
    names = {model.__name__ for model, _body, _path in BODY_CASES}
    assert {"JobCreate", "TargetCreate", "RegisterIn", "FeedCreate", "PlaygroundRunCreate"} <= names


def test_every_form_field_goes_through_the_control_character_check() -> None:
    checks = {check_single_line, check_multi_line}
    unchecked = [
        f"{route.path} {param.name}"
        for route in _routes()
        for param in _params(route.dependant)
        if isinstance(param.field_info, params.Form)
        and param.field_info.annotation is str
        and not any(getattr(meta, "func", None) in checks for meta in param.field_info.metadata)
    ]
    assert unchecked == []
    forms = [p for r in _routes() for p in _params(r.dependant) if isinstance(p.field_info, params.Form)]
    assert len(forms) > 40  # the walk found the forms
