"""Finding 14: the OpenAPI schema says what the server accepts. Input the schema allows is not
refused, input it forbids is not accepted, and OPTIONS / unsupported methods answer with Allow."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import auth_headers, make_job, make_user


async def _schema(client: httpx.AsyncClient) -> dict[str, Any]:
    schema: dict[str, Any] = (await client.get("/openapi.json")).json()
    return schema


async def test_the_time_zone_schema_lists_the_zones_the_server_accepts(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    schemas = (await _schema(client))["components"]["schemas"]
    for model in ("UserUpdate", "RegisterIn"):
        zone = next(s for s in schemas[model]["properties"]["timezone"]["anyOf"] if s.get("type") == "string")
        assert "Europe/Paris" in zone["enum"] and "" not in zone["enum"]
    headers = await auth_headers(session, await make_user(session))
    assert (await client.patch("/api/v1/me", json={"timezone": ""}, headers=headers)).status_code == 422
    kept = await client.patch("/api/v1/me", json={"timezone": zone["enum"][-1]}, headers=headers)
    assert kept.status_code == 200 and kept.json()["timezone"] == zone["enum"][-1]


@pytest.mark.parametrize("since", ["0.5", "1700000000", "tomorrow"])
async def test_since_takes_only_an_iso_date_time(
    client: httpx.AsyncClient, session: AsyncSession, since: str
) -> None:
    headers = await auth_headers(session, await make_user(session))
    response = await client.get("/api/v1/summaries", params={"since": since}, headers=headers)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["query", "since"]
    good = await client.get("/api/v1/summaries", params={"since": "2026-12-01T08:00:00Z"}, headers=headers)
    assert good.status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"x_username": "alice", "topics": "AAA"}, "topics"),
        (
            {"x_username": "alice", "frequency": "\u0661\u0665\u0660"},
            "frequency",
        ),  # 150 in Arabic-Indic digits
        ({"x_username": "alice", "frequency": "\u0666\u0660m"}, "frequency"),
    ],
)
async def test_job_input_the_schema_forbids_is_refused(
    client: httpx.AsyncClient, session: AsyncSession, body: dict[str, Any], field: str
) -> None:
    headers = await auth_headers(session, await make_user(session))
    response = await client.post("/api/v1/jobs", json=body, headers=headers)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"][-1] == field


@pytest.mark.parametrize("value", [0, 1, "true", "yes"])
async def test_is_active_is_a_boolean(
    client: httpx.AsyncClient, session: AsyncSession, value: object
) -> None:
    owner = await make_user(session)
    job = await make_job(session, owner=owner)
    headers = await auth_headers(session, owner)
    response = await client.patch(f"/api/v1/jobs/{job.id}", json={"is_active": value}, headers=headers)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"][-1] == "is_active"
    paused = await client.patch(f"/api/v1/jobs/{job.id}", json={"is_active": False}, headers=headers)
    assert paused.status_code == 200 and paused.json()["is_active"] is False


async def test_options_and_unsupported_methods_answer_with_allow(client: httpx.AsyncClient) -> None:
    options = await client.options("/api/v1/jobs")
    assert options.status_code == 204 and options.headers["allow"] == "GET, POST, OPTIONS"
    one = await client.options("/api/v1/jobs/12")
    assert one.status_code == 204 and set(one.headers["allow"].split(", ")) == {
        "GET",
        "PATCH",
        "DELETE",
        "OPTIONS",
    }
    put = await client.put("/api/v1/jobs")
    assert put.status_code == 405 and put.headers["allow"] == "GET, POST, OPTIONS"
    assert put.headers["content-security-policy"]  # still under the security headers
    assert (await client.options("/no/such/page")).status_code == 404


# What schemathesis with every check found once the schema was held to the server both ways.


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/jobs", {"x_username": "alice", "frequency": 360.0}),  # a JSON integer written as 360.0
        ("/api/v1/jobs", {"x_username": "alice", "frequency": " 90M "}),
        ("/api/v1/jobs", {"x_username": "alice", "filters": {"min_likes": 1200.0}}),
        ("/api/v1/jobs", {"x_username": "alice", "daily_at": "08:00", "days": ["Monday", "fri"]}),
    ],
)
async def test_input_the_schema_allows_is_accepted(
    client: httpx.AsyncClient, session: AsyncSession, path: str, body: dict[str, Any]
) -> None:
    headers = await auth_headers(session, await make_user(session))
    response = await client.post(path, json=body, headers=headers)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("PATCH", "/api/v1/me", {"monthly_budget_usd": False}, "monthly_budget_usd"),
        ("PATCH", "/api/v1/me", {"monthly_budget_usd": "12.5"}, "monthly_budget_usd"),
        # accounts name the job's first account, but a bad x_username is still refused as such
        ("POST", "/api/v1/jobs", {"x_username": "not a handle!", "accounts": ["alice"]}, "x_username"),
        # the schema's maxItems counts what is sent, repeats included
        ("POST", "/api/v1/jobs", {"x_username": "alice", "topics": ["ai"] * 21}, "topics"),
        ("POST", "/api/v1/jobs", {"x_username": "alice", "accounts": ["alice"] * 51}, "accounts"),
        ("POST", "/api/v1/jobs", {"x_username": "alice", "filters": {"min_likes": False}}, "min_likes"),
        ("POST", "/api/v1/jobs", {"x_username": "alice", "filters": {"min_likes": "5"}}, "min_likes"),
        (
            "POST",
            "/api/v1/jobs",
            {"x_username": "alice", "filters": {"include_keywords": ["ai"] * 21}},
            "include_keywords",
        ),
        ("POST", "/api/v1/playground/runs", {"x_username": "alice", "confirm_cost": 0}, "confirm_cost"),
    ],
)
async def test_input_the_schema_forbids_is_refused(
    client: httpx.AsyncClient, session: AsyncSession, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    headers = await auth_headers(session, await make_user(session))
    response = await client.request(method, path, json=body, headers=headers)
    assert response.status_code == 422, response.text
    assert field in [error["loc"][-1] for error in response.json()["detail"]]


async def test_the_schema_states_the_lengths_and_patterns_the_server_checks(
    client: httpx.AsyncClient,
) -> None:
    schemas = (await _schema(client))["components"]["schemas"]
    assert schemas["RegisterIn"]["properties"]["password"]["minLength"] == 10
    assert schemas["TargetCreate"]["properties"]["name"]["maxLength"] == 100
    job = schemas["JobCreate"]["properties"]
    assert job["accounts"]["anyOf"][0]["minItems"] == 1 and job["topics"]["maxItems"] == 20
    frequency = job["frequency"]["anyOf"]
    assert frequency[0] == {"type": "integer", "minimum": 15, "maximum": 43200}
    assert frequency[1]["type"] == "string"  # "1h" is as valid as 60
