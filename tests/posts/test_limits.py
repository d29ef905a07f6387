"""The shared source limits on SQLite and PostgreSQL: a rate limit or a remaining budget one
process learns is recorded in source_limits and honoured by every other."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.posts.helpers import LEASE_SECONDS
from tests.sources.fakes import FakeX
from xtrack.db import Database
from xtrack.posts import accounts, refresh
from xtrack.posts.models import SourceLimit
from xtrack.sources.base import SourceRateLimited
from xtrack.sources.x import XSource

NOW = datetime.now(UTC).replace(microsecond=0)
DAY_AGO = NOW - timedelta(hours=24)


async def test_a_rate_limited_source_gets_no_request_until_the_reset(
    db: Database, session: AsyncSession, fake_x: tuple[FakeX, str], x_source: XSource
) -> None:
    fake, base_url = fake_x
    user = fake.add_user("alice")
    fake.add_posts(user, 3, start=NOW - timedelta(hours=1))
    reset = int(time.time()) + 30
    # The timelines' 429 (X limits its user lookup in a bucket of its own, which is not shared).
    fake.script_timeline(
        {"title": "Too Many Requests", "type": "about:blank", "status": 429},
        status=429,
        headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)},
    )

    with pytest.raises(SourceRateLimited) as caught:
        await refresh.refresh_account(
            db, x_source, username="alice", need_since=DAY_AGO, requested_at=NOW, lease_seconds=LEASE_SECONDS
        )
    reset_at = datetime.fromtimestamp(reset, tz=UTC)
    assert caught.value.reset_at == reset_at
    limit = await session.get(SourceLimit, "x", populate_existing=True)
    assert limit is not None and limit.rate_limited_until == reset_at and limit.remaining == 0
    account = await accounts.get_account(session, source="x", username="alice")
    assert account is not None and account.fetch_started_at is None and account.newest_post_id is None

    # Another process (its own client, no in-memory memory of the 429) reads source_limits.
    other = XSource(
        base_url=base_url, bearer_token="good-token", public_url="http://t", timeout=2, max_retries=0
    )
    try:
        requests = len(fake.requests)
        with pytest.raises(SourceRateLimited) as again:
            await refresh.refresh_account(
                db, other, username="alice", need_since=DAY_AGO, requested_at=NOW, lease_seconds=LEASE_SECONDS
            )
        assert again.value.reset_at == reset_at
        assert len(fake.requests) == requests  # no request before the reset

        after_reset = datetime.fromtimestamp(reset + 1, tz=UTC)
        other.http.clock = lambda: after_reset
        snapshot = await refresh.refresh_account(
            db,
            other,
            username="alice",
            need_since=DAY_AGO,
            requested_at=NOW,
            now=lambda: after_reset,
            lease_seconds=LEASE_SECONDS,
        )
    finally:
        await other.aclose()
    assert snapshot.posts_stored == 3


async def test_a_429_on_the_user_lookup_is_not_shared(
    db: Database, session: AsyncSession, fake_x: tuple[FakeX, str], x_source: XSource
) -> None:
    fake, _ = fake_x
    fake.add_user("alice")
    fake.fail_next(
        429, headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(int(time.time()) + 30)}
    )
    with pytest.raises(SourceRateLimited):
        await refresh.refresh_account(
            db, x_source, username="alice", need_since=DAY_AGO, requested_at=NOW, lease_seconds=LEASE_SECONDS
        )
    limit = await session.get(SourceLimit, "x", populate_existing=True)
    assert limit is None or limit.rate_limited_until is None  # timelines of known accounts go on


async def test_remaining_budget_is_shared(
    db: Database, session: AsyncSession, fake_x: tuple[FakeX, str], x_source: XSource
) -> None:
    fake, _ = fake_x
    fake.add_user("alice")
    fake.remaining = 100
    await refresh.refresh_account(
        db, x_source, username="alice", need_since=DAY_AGO, requested_at=NOW, lease_seconds=LEASE_SECONDS
    )
    limit = await session.get(SourceLimit, "x", populate_existing=True)
    # The timelines' budget: the user lookup spends its own bucket.
    assert limit is not None and limit.remaining == 99 and limit.rate_limited_until is None
