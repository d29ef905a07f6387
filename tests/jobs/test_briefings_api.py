"""Briefings through the jobs API: many accounts, a daily schedule at a local time, filters."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import auth_headers, make_user
from xtrack.jobs.models import JobAccount


async def _headers(session: AsyncSession) -> dict[str, str]:
    return await auth_headers(session, await make_user(session))


async def _stored_accounts(session: AsyncSession, job_id: int) -> list[str]:
    rows = await session.scalars(
        select(JobAccount.account).where(JobAccount.job_id == job_id).order_by(JobAccount.position)
    )
    return list(rows)


async def test_accounts_keep_their_order_fold_repeats_and_name_the_first_as_x_username(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    headers = await _headers(session)
    response = await client.post(
        "/api/v1/jobs",
        json={"accounts": ["@Carol", "alice", "CAROL", " bob "], "topics": ["chips"]},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["accounts"] == ["Carol", "alice", "bob"]
    assert body["x_username"] == "Carol"
    assert await _stored_accounts(session, body["id"]) == ["Carol", "alice", "bob"]
    listed = (await client.get("/api/v1/jobs", headers=headers)).json()["items"]
    assert [item["accounts"] for item in listed] == [["Carol", "alice", "bob"]]


async def test_x_username_alone_is_a_job_of_one_account(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    headers = await _headers(session)
    body = (await client.post("/api/v1/jobs", json={"x_username": "alice"}, headers=headers)).json()
    assert body["accounts"] == ["alice"] and body["x_username"] == "alice"
    assert await _stored_accounts(session, body["id"]) == ["alice"]
    assert body["daily_at"] is None and body["schedule_label"] == "Every 6h"


@pytest.mark.parametrize(
    ("accounts", "needle"),
    [
        ([], "at least one"),
        ([f"user{i}" for i in range(51)], "at most 50"),
        (["alice", "has space"], "item 2"),
        ("alice", "list"),
    ],
)
async def test_bad_accounts_are_a_422_naming_the_field(
    client: httpx.AsyncClient, session: AsyncSession, accounts: object, needle: str
) -> None:
    headers = await _headers(session)
    response = await client.post("/api/v1/jobs", json={"accounts": accounts}, headers=headers)
    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["loc"][-1] == "accounts" and needle in error["msg"]


async def test_accounts_on_bluesky_and_mastodon_are_stored_in_their_own_form(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    headers = await _headers(session)
    typed = [
        "@alice",
        "https://bsky.app/profile/Alice.bsky.social",
        "@Bob@Mastodon.social",
        "bob@mastodon.social",
    ]
    response = await client.post("/api/v1/jobs", json={"accounts": typed}, headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["accounts"] == ["alice", "alice.bsky.social", "bob@mastodon.social"]
    assert await _stored_accounts(session, response.json()["id"]) == [
        "alice",
        "alice.bsky.social",
        "bob@mastodon.social",
    ]
    first = await client.post("/api/v1/jobs", json={"x_username": "@carol@fosstodon.org"}, headers=headers)
    assert first.status_code == 201 and first.json()["x_username"] == "carol@fosstodon.org"


@pytest.mark.parametrize("payload", [{"x_username": "bob@"}, {"accounts": ["alice", "@bob@nowhere"]}])
async def test_an_account_of_no_network_is_a_422_naming_the_field(
    client: httpx.AsyncClient, session: AsyncSession, payload: dict[str, object]
) -> None:
    headers = await _headers(session)
    response = await client.post("/api/v1/jobs", json=payload, headers=headers)
    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["loc"][-1] == next(iter(payload)) and "Bluesky" in error["msg"]


async def test_patch_changes_the_accounts_and_x_username_alone_replaces_the_first(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    headers = await _headers(session)
    job = (await client.post("/api/v1/jobs", json={"accounts": ["a1", "b2"]}, headers=headers)).json()
    changed = await client.patch(
        f"/api/v1/jobs/{job['id']}", json={"accounts": ["a1", "b2", "c3"]}, headers=headers
    )
    assert changed.json()["accounts"] == ["a1", "b2", "c3"]
    first = await client.patch(f"/api/v1/jobs/{job['id']}", json={"x_username": "zed"}, headers=headers)
    assert first.json()["accounts"] == ["zed", "b2", "c3"] and first.json()["x_username"] == "zed"
    assert await _stored_accounts(session, job["id"]) == ["zed", "b2", "c3"]


async def test_a_daily_schedule_in_a_time_zone(client: httpx.AsyncClient, session: AsyncSession) -> None:
    headers = await _headers(session)
    response = await client.post(
        "/api/v1/jobs",
        json={
            "accounts": ["alice"],
            "daily_at": "8:00",
            "days": ["Mon", "tue", "wed", "thu", "fri"],
            "timezone": "Europe/Paris",
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["daily_at"] == "08:00" and body["days"] == ["mon", "tue", "wed", "thu", "fri"]
    assert body["schedule_label"] == "Weekdays at 08:00 (Europe/Paris)"
    next_run = datetime.fromisoformat(body["next_run_at"]).astimezone(UTC)
    assert next_run.minute == 0 and next_run.hour in (6, 7)  # 08:00 in Paris, summer or winter
    assert next_run.weekday() < 5


async def test_the_time_zone_defaults_to_the_owners_and_null_daily_at_goes_back_to_the_interval(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    user.timezone = "Asia/Kolkata"
    headers = await auth_headers(session, user)
    job = (
        await client.post("/api/v1/jobs", json={"x_username": "alice", "daily_at": "07:30"}, headers=headers)
    ).json()
    assert job["timezone"] == "Asia/Kolkata" and job["schedule_label"] == "Every day at 07:30 (Asia/Kolkata)"
    assert datetime.fromisoformat(job["next_run_at"]).astimezone(UTC).strftime("%H:%M") == "02:00"
    back = await client.patch(f"/api/v1/jobs/{job['id']}", json={"daily_at": None}, headers=headers)
    assert back.json()["daily_at"] is None and back.json()["schedule_label"] == "Every 6h"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"daily_at": "25:00"}, "daily_at"),
        ({"daily_at": "08:00", "days": ["someday"]}, "days"),
        ({"daily_at": "08:00", "timezone": "Mars/Olympus"}, "timezone"),
        ({"days": ["mon"]}, "daily_at"),
        ({"filters": {"min_likes": -1}}, "min_likes"),
        ({"filters": {"exclude_replies": "yes"}}, "exclude_replies"),
    ],
)
async def test_bad_schedules_and_filters_are_a_422_naming_the_field(
    client: httpx.AsyncClient, session: AsyncSession, payload: dict[str, object], field: str
) -> None:
    headers = await _headers(session)
    response = await client.post("/api/v1/jobs", json={"x_username": "alice", **payload}, headers=headers)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    named = detail[0]["loc"][-1] if isinstance(detail, list) else response.json().get("field")
    assert named == field or field in str(detail)


async def test_filters_are_stored_and_returned(client: httpx.AsyncClient, session: AsyncSession) -> None:
    headers = await _headers(session)
    filters = {"exclude_replies": True, "include_keywords": ["GPU", "gpu", " chips "], "min_likes": 5}
    body = (
        await client.post("/api/v1/jobs", json={"x_username": "alice", "filters": filters}, headers=headers)
    ).json()
    assert body["filters"]["exclude_replies"] is True
    assert body["filters"]["include_keywords"] == ["GPU", "chips"]
    assert body["filters"]["min_likes"] == 5 and body["filters"]["exclude_reposts"] is False
