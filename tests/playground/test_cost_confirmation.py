"""A playground run that may cost more than XTRACK_CONFIRM_ABOVE_USD shows its expected posts and
cost and runs only once confirmed (API: confirm_cost=true; page: Run anyway)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import auth_headers, make_user, signed_in
from tests.web.pages_helpers import text_of
from xtrack.config import Settings
from xtrack.db import Database
from xtrack.executions import estimate as estimates
from xtrack.web.app import create_app


def test_the_estimate_uses_the_posting_rate_or_a_busy_accounts() -> None:
    x = Settings(source="x", x_bearer_token="t", x_price_per_post_usd=0.005, x_price_per_user_lookup_usd=0.01)
    unknown = estimates.estimate(x, hours_back=24, posts_per_hour=None)
    assert (unknown.posts_low, unknown.posts_high) == (0, 480)  # 20 posts an hour at most
    assert unknown.cost_low == 0.01 and unknown.cost_high == pytest.approx(480 * 0.005 + 0.01)
    assert estimates.needs_confirmation(x, unknown)
    quiet = estimates.estimate(x, hours_back=24, posts_per_hour=0.1)  # 2.4 expected: 1 to 5
    assert (quiet.posts_low, quiet.posts_high) == (1, 5) and quiet.cost_high == pytest.approx(0.035)
    assert not estimates.needs_confirmation(x, quiet)
    demo = estimates.estimate(Settings(), hours_back=168, posts_per_hour=None)
    assert demo.cost_high == 0 and not estimates.needs_confirmation(Settings(), demo)


@pytest.fixture
async def x_client(db: Database, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    on_x = settings.model_copy(update={"source": "x", "x_bearer_token": "t", "confirm_above_usd": 0.05})
    app = create_app(on_x, database=db)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        yield http


async def test_the_api_asks_to_confirm_then_runs(x_client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session)
    headers = await auth_headers(session, user)
    body = {"x_username": "alice", "hours_back": 24}

    asked = await x_client.post("/api/v1/playground/runs", headers=headers, json=body)
    assert asked.status_code == 409
    assert "about 0 to 480 posts, $0.010 to $2.410" in asked.json()["detail"]
    assert "confirm_cost=true" in asked.json()["detail"]

    confirmed = await x_client.post(
        "/api/v1/playground/runs", headers=headers, json={**body, "confirm_cost": True}
    )
    assert confirmed.status_code == 202


async def test_the_page_shows_the_estimate_and_runs_anyway(
    x_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    csrf = await signed_in(x_client, session, user)
    form = {"csrf_token": csrf, "x_username": "alice", "topics": "", "hours_back": "24", "language": "en"}

    asked = await x_client.post("/playground", data=form)
    assert asked.status_code == 409
    assert "about 0 to 480 posts" in text_of(asked.text) and "Run anyway" in asked.text

    confirmed = await x_client.post("/playground", data={**form, "confirm_cost": "1"})
    assert confirmed.status_code == 303 and confirmed.headers["location"].startswith("/playground/runs/")


def test_a_briefing_is_estimated_over_every_account() -> None:
    x = Settings(source="x", x_bearer_token="t")
    one = estimates.estimate(x, hours_back=24, posts_per_hour=None)
    three = estimates.estimate_accounts(x, hours_back=24, rates=[None, 0.1, None])
    assert (three.posts_low, three.posts_high) == (one.posts_low + 1, 2 * one.posts_high + 5)
    assert three.cost_low == round(1 * 0.005 + 3 * 0.010, 6)  # one lookup per account
    assert not three.rate_known


def test_bluesky_and_mastodon_accounts_cost_nothing_upstream() -> None:
    x = Settings(source="x", x_bearer_token="t")
    mixed = estimates.estimate_accounts(
        x, hours_back=24, rates=[None, None, None], billed=[True, False, False]
    )
    only_x = estimates.estimate_accounts(x, hours_back=24, rates=[None])
    assert mixed.posts_high == 3 * only_x.posts_high  # all of them are read and summarized
    assert (mixed.cost_low, mixed.cost_high) == (only_x.cost_low, only_x.cost_high)  # only X's are paid


async def test_a_briefing_of_the_open_networks_runs_without_asking(
    x_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    headers = await auth_headers(session, await make_user(session))
    body = {"x_username": "carol.bsky.social", "accounts": ["carol.bsky.social", "@bob@mastodon.social"]}
    response = await x_client.post(
        "/api/v1/playground/runs", headers=headers, json={**body, "hours_back": 24}
    )
    assert response.status_code == 202, response.text


async def test_a_briefing_tried_in_the_playground_asks_for_all_its_accounts(
    x_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    headers = await auth_headers(session, user)
    body = {"x_username": "alice", "accounts": ["alice", "bob"], "hours_back": 24}

    asked = await x_client.post("/api/v1/playground/runs", headers=headers, json=body)
    assert asked.status_code == 409
    detail = asked.json()["detail"]
    assert "about 0 to 960 posts, $0.020 to $4.820" in detail
    assert "XTrack has not read some of these accounts yet" in detail
