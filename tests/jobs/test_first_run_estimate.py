"""A new job's first run is estimated before it spends anything: the API's 201 carries the expected
posts and cost range (summed over a briefing's accounts); a client that sends confirm_cost=false is
answered 409 with the estimate when it exceeds XTRACK_CONFIRM_ABOVE_USD, as the job form always is
(Create anyway). The demo source costs nothing, so nothing is asked."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import auth_headers, make_user, signed_in
from tests.web.pages_helpers import text_of
from xtrack.config import Settings
from xtrack.db import Database
from xtrack.jobs.models import Job
from xtrack.web.app import create_app


@pytest.fixture
async def x_client(db: Database, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    on_x = settings.model_copy(
        update={
            "source": "x",
            "x_bearer_token": "t",
            "x_price_per_post_usd": 0.005,
            "x_price_per_user_lookup_usd": 0.01,
            "confirm_above_usd": 0.05,
        }
    )
    app = create_app(on_x, database=db)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        yield http


async def jobs_of(session: AsyncSession, user_id: int) -> int:
    return int(await session.scalar(select(func.count()).select_from(Job).where(Job.user_id == user_id)) or 0)


async def test_the_201_carries_the_first_runs_estimate(
    x_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    headers = await auth_headers(session, user)

    hourly = await x_client.post(
        "/api/v1/jobs", headers=headers, json={"x_username": "alice", "frequency": 60}
    )
    assert hourly.status_code == 201, hourly.text
    estimate = hourly.json()["first_run_estimate"]
    # The first run reads the last 24 hours: up to a busy account's 20 posts an hour, one lookup.
    assert (estimate["posts_low"], estimate["posts_high"]) == (0, 480)
    assert estimate["cost_low"] == 0.01 and estimate["cost_high"] == pytest.approx(2.41)
    assert estimate["needs_confirmation"] is True and estimate["rate_known"] is False
    assert estimate["words"] == "about 0 to 480 posts, $0.010 to $2.410"

    every_two_days = await x_client.post(
        "/api/v1/jobs", headers=headers, json={"x_username": "bob", "frequency": 2880}
    )
    assert every_two_days.json()["first_run_estimate"]["posts_high"] == 960  # one interval: 48 hours

    briefing = await x_client.post(
        "/api/v1/jobs", headers=headers, json={"x_username": "carol", "accounts": ["carol", "dave", "erin"]}
    )
    summed = briefing.json()["first_run_estimate"]
    assert (summed["posts_low"], summed["posts_high"]) == (0, 3 * 480)
    assert summed["cost_low"] == pytest.approx(3 * 0.01)  # a lookup per account
    assert await jobs_of(session, user.id) == 3


async def test_confirm_cost_false_asks_first_and_true_creates(
    x_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    headers = await auth_headers(session, user)
    body = {"x_username": "alice", "accounts": ["alice", "bob"], "confirm_cost": False}

    asked = await x_client.post("/api/v1/jobs", headers=headers, json=body)
    assert asked.status_code == 409
    detail = asked.json()["detail"]
    assert "This briefing's first run may cost more than $0.05" in detail
    assert "about 0 to 960 posts, $0.020 to $4.820" in detail and "confirm_cost=true" in detail
    assert await jobs_of(session, user.id) == 0

    confirmed = await x_client.post("/api/v1/jobs", headers=headers, json={**body, "confirm_cost": True})
    assert confirmed.status_code == 201 and confirmed.json()["accounts"] == ["alice", "bob"]
    assert await jobs_of(session, user.id) == 1
    not_a_bool = await x_client.post("/api/v1/jobs", headers=headers, json={**body, "confirm_cost": "yes"})
    assert not_a_bool.status_code == 422 and "confirm_cost" in not_a_bool.text


async def test_the_demo_source_costs_nothing_so_nothing_is_asked(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    headers = await auth_headers(session, user)
    csrf = await signed_in(client, session, user)

    api = await client.post(
        "/api/v1/jobs", headers=headers, json={"x_username": "alice", "confirm_cost": False}
    )
    assert api.status_code == 201
    assert api.json()["first_run_estimate"]["cost_high"] == 0
    assert api.json()["first_run_estimate"]["needs_confirmation"] is False
    page = await client.post("/jobs", data={"csrf_token": csrf, "x_username": "bob", "frequency": "60"})
    assert page.status_code == 303 and page.headers["location"].startswith("/jobs/")


async def test_the_job_form_shows_the_estimate_keeps_the_input_and_creates_anyway(
    x_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    csrf = await signed_in(x_client, session, user)
    form = {
        "csrf_token": csrf,
        "x_username": "alice",
        "more_accounts": "@bob",
        "topics": "chips, GPUs",
        "frequency": "60",
        "language": "fr",
        "exclude_replies": "on",
    }

    asked = await x_client.post("/jobs", data=form)
    assert asked.status_code == 409
    page = text_of(asked.text)
    assert "This briefing's first run may cost more than $0.05: about 0 to 960 posts" in page
    assert 'name="confirm_cost" value="1"' in asked.text and "Create anyway" in page
    assert f'value="{csrf}"' in asked.text  # the form posts again with its CSRF token
    assert "chips, GPUs" in asked.text and '<option value="fr" selected' in asked.text  # input kept
    assert "@bob" in asked.text
    assert await jobs_of(session, user.id) == 0

    without_csrf = await x_client.post("/jobs", data={**form, "csrf_token": "forged", "confirm_cost": "1"})
    assert without_csrf.status_code == 403
    confirmed = await x_client.post("/jobs", data={**form, "confirm_cost": "1"})
    assert confirmed.status_code == 303 and confirmed.headers["location"].startswith("/jobs/")
    job = await session.scalar(select(Job).where(Job.user_id == user.id))
    assert job is not None and job.topics == ["chips", "GPUs"] and job.language == "fr"
