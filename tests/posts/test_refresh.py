"""refresh_account on SQLite and PostgreSQL, with the real clients talking HTTP to local fakes:
what is fetched and stored, backfills, failures and the lease. These run one call at a time on the
``db`` fixture; concurrency has its own module with real separate connections."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.fakes.server import serve_app
from tests.posts.helpers import LEASE_SECONDS, account_row, stored_count
from tests.sources.fakes import FakeFeed, FakeX
from xtrack.db import Database
from xtrack.posts import accounts, refresh, store
from xtrack.sources.base import AccountNotFound, AccountUnavailable, TransientSourceError
from xtrack.sources.demo import DemoSource
from xtrack.sources.rss import RssSource
from xtrack.sources.x import XSource

NOW = datetime.now(UTC).replace(microsecond=0)
DAY_AGO = NOW - timedelta(hours=24)


async def test_250_new_posts_are_stored_exactly_once_then_nothing_new_costs_one_request(
    db: Database, session: AsyncSession, fake_x: tuple[FakeX, str], x_source: XSource
) -> None:
    fake, _ = fake_x
    user = fake.add_user("Alice")
    ids = fake.add_posts(user, 250, start=NOW - timedelta(hours=3))

    first = await refresh.refresh_account(
        db,
        x_source,
        username="@Alice",
        need_since=DAY_AGO,
        requested_at=datetime.now(UTC),
        lease_seconds=LEASE_SECONDS,
    )

    assert first.username == "alice" and first.external_id == user.id
    assert first.posts_stored == 250
    assert first.requests_made == 4  # the user lookup, then 3 pages
    assert first.newest_post_id == ids[-1]
    assert first.covered_since == DAY_AGO and first.gap is False
    assert await stored_count(session, first.account_id) == 250
    posts = await store.posts_after(session, account_id=first.account_id, after_post_id=None, since=None)
    assert [p.external_id for p in posts] == ids
    assert posts[0].author_username == "alice" and posts[0].metrics["likes"] == 3
    row = await account_row(session, first.account_id)
    assert row.fetch_started_at is None and row.state == "ok"
    assert row.last_fetched_at == first.covered_until

    served = fake.posts_served
    second = await refresh.refresh_account(
        db,
        x_source,
        username="alice",
        need_since=DAY_AGO,
        requested_at=datetime.now(UTC),
        lease_seconds=LEASE_SECONDS,
    )
    assert second.requests_made == 1 and second.posts_stored == 0
    assert fake.posts_served == served  # a since_id call with nothing new reads no post
    assert fake.requests[-1][1]["since_id"] == ids[-1]
    assert "start_time" in fake.requests[-1][1]
    assert await stored_count(session, first.account_id) == 250

    new = fake.add_posts(user, 3, start=NOW - timedelta(minutes=1), step=timedelta(seconds=1))
    third = await refresh.refresh_account(
        db,
        x_source,
        username="alice",
        need_since=DAY_AGO,
        requested_at=datetime.now(UTC),
        lease_seconds=LEASE_SECONDS,
    )
    assert third.posts_stored == 3 and third.newest_post_id == new[-1]
    assert fake.posts_served == served + 3
    after = await store.posts_after(session, account_id=first.account_id, after_post_id=ids[-1], since=None)
    assert [p.external_id for p in after] == new


async def test_a_need_older_than_the_last_fetch_uses_the_stored_posts(
    db: Database, fake_x: tuple[FakeX, str], x_source: XSource
) -> None:
    fake, _ = fake_x
    user = fake.add_user("alice")
    fake.add_posts(user, 5, start=NOW - timedelta(hours=1))
    requested = datetime.now(UTC)
    await refresh.refresh_account(
        db,
        x_source,
        username="alice",
        need_since=DAY_AGO,
        requested_at=requested,
        lease_seconds=LEASE_SECONDS,
    )
    before = len(fake.requests)

    joined = await refresh.refresh_account(
        db,
        x_source,
        username="alice",
        need_since=DAY_AGO,
        requested_at=requested,
        lease_seconds=LEASE_SECONDS,
    )

    assert len(fake.requests) == before
    assert joined.requests_made == 0 and joined.posts_stored == 0


async def test_an_older_window_is_backfilled_then_followed_by_since_id(
    db: Database, session: AsyncSession, fake_x: tuple[FakeX, str], x_source: XSource
) -> None:
    fake, _ = fake_x
    user = fake.add_user("alice")
    old = fake.add_posts(user, 10, start=NOW - timedelta(hours=100), step=timedelta(hours=1))
    recent = fake.add_posts(user, 5, start=NOW - timedelta(hours=2), step=timedelta(minutes=10))

    job = await refresh.refresh_account(
        db, x_source, username="alice", need_since=DAY_AGO, requested_at=NOW, lease_seconds=LEASE_SECONDS
    )
    assert job.posts_stored == 5 and job.covered_since == DAY_AGO

    week_ago = NOW - timedelta(hours=168)
    playground = await refresh.refresh_account(
        db,
        x_source,
        username="alice",
        need_since=week_ago,
        requested_at=datetime.now(UTC),
        lease_seconds=LEASE_SECONDS,
    )
    timeline = [params for path, params, _ in fake.requests if path.endswith("/tweets")]
    assert "since_id" not in timeline[-1] and timeline[-1]["start_time"].startswith(
        week_ago.strftime("%Y-%m-%dT%H")
    )
    assert playground.posts_stored == 10 and playground.covered_since == week_ago and playground.gap is False
    assert await stored_count(session, job.account_id) == 15
    stored = await store.posts_after(session, account_id=job.account_id, after_post_id=None, since=week_ago)
    assert [p.external_id for p in stored] == old + recent

    again = await refresh.refresh_account(
        db,
        x_source,
        username="alice",
        need_since=week_ago,
        requested_at=datetime.now(UTC),
        lease_seconds=LEASE_SECONDS,
    )
    assert fake.requests[-1][1]["since_id"] == recent[-1] and again.posts_stored == 0


async def test_a_window_starting_seconds_before_the_stored_posts_reads_only_those_seconds(
    db: Database, session: AsyncSession, fake_x: tuple[FakeX, str], x_source: XSource
) -> None:
    """Two first runs on one account: the second one's 24 h window starts 5 s earlier than what the
    first stored. It reads the one post of those 5 s and the new one, not the 120 of the day."""
    fake, _ = fake_x
    user = fake.add_user("alice")
    sliver = fake.add_posts(user, 1, start=DAY_AGO - timedelta(seconds=3))
    day = fake.add_posts(user, 120, start=DAY_AGO + timedelta(minutes=1), step=timedelta(minutes=10))
    first = await refresh.refresh_account(
        db, x_source, username="alice", need_since=DAY_AGO, requested_at=NOW, lease_seconds=LEASE_SECONDS
    )
    assert first.posts_stored == 120
    served = fake.posts_served
    new = fake.add_posts(user, 1, start=datetime.now(UTC) - timedelta(seconds=1))

    second = await refresh.refresh_account(
        db,
        x_source,
        username="alice",
        need_since=DAY_AGO - timedelta(seconds=5),
        requested_at=datetime.now(UTC),
        lease_seconds=LEASE_SECONDS,
    )

    assert fake.posts_served - served == 2  # the sliver's post and the new one: no re-read
    timeline = [params for path, params, _ in fake.requests if path.endswith("/tweets")]
    assert timeline[-2]["since_id"] == day[-1]
    assert "since_id" not in timeline[-1] and "end_time" in timeline[-1]
    assert second.posts_stored == 2 and second.covered_since == DAY_AGO - timedelta(seconds=5)
    stored = await store.posts_after(session, account_id=first.account_id, after_post_id=None, since=None)
    assert [p.external_id for p in stored] == sliver + day + new


async def test_posts_beyond_the_timeline_depth_are_a_gap_and_not_reread(
    db: Database, fake_x: tuple[FakeX, str]
) -> None:
    fake, base_url = fake_x
    fake.depth = 40
    user = fake.add_user("firehose")
    fake.add_posts(user, 100, start=NOW - timedelta(hours=5), step=timedelta(minutes=1))
    source = XSource(
        base_url=base_url,
        bearer_token="good-token",
        public_url="http://t",
        timeout=2,
        max_retries=0,
        page_size=10,
        timeline_depth=40,
    )
    try:
        first = await refresh.refresh_account(
            db, source, username="firehose", need_since=DAY_AGO, requested_at=NOW, lease_seconds=LEASE_SECONDS
        )
        assert first.posts_stored == 40 and first.gap is True
        assert first.covered_since is not None and first.covered_since > DAY_AGO
        served = fake.posts_served
        second = await refresh.refresh_account(
            db,
            source,
            username="firehose",
            need_since=DAY_AGO,
            requested_at=datetime.now(UTC),
            lease_seconds=LEASE_SECONDS,
        )
    finally:
        await source.aclose()
    # The source cannot reach further back: a since_id call, not the whole window again.
    assert fake.posts_served == served
    assert second.gap is True and second.requests_made == 1


async def test_unknown_and_suspended_accounts_record_their_state(
    db: Database, session: AsyncSession, fake_x: tuple[FakeX, str], x_source: XSource
) -> None:
    fake, _ = fake_x
    fake.add_user("banned", suspended=True)
    with pytest.raises(AccountNotFound):
        await refresh.refresh_account(
            db, x_source, username="ghost", need_since=DAY_AGO, requested_at=NOW, lease_seconds=LEASE_SECONDS
        )
    with pytest.raises(AccountUnavailable):
        await refresh.refresh_account(
            db, x_source, username="banned", need_since=DAY_AGO, requested_at=NOW, lease_seconds=LEASE_SECONDS
        )
    ghost = await accounts.get_account(session, source="x", username="GHOST")
    banned = await accounts.get_account(session, source="x", username="banned")
    assert ghost is not None and ghost.state == "not_found" and ghost.fetch_started_at is None
    assert banned is not None and banned.state == "suspended"
    with pytest.raises(AccountNotFound):
        await refresh.refresh_account(
            db,
            x_source,
            username="not a name!",
            need_since=DAY_AGO,
            requested_at=NOW,
            lease_seconds=LEASE_SECONDS,
        )


async def test_a_transient_failure_moves_nothing_and_frees_the_lease(
    db: Database, session: AsyncSession, fake_x: tuple[FakeX, str], x_source: XSource
) -> None:
    fake, _ = fake_x
    user = fake.add_user("alice")
    fake.add_posts(user, 4, start=NOW - timedelta(hours=1))
    await refresh.refresh_account(
        db, x_source, username="alice", need_since=DAY_AGO, requested_at=NOW, lease_seconds=LEASE_SECONDS
    )
    new = fake.add_posts(user, 2, start=NOW - timedelta(minutes=5))
    fake.fail_next(503, times=3)
    with pytest.raises(TransientSourceError):
        await refresh.refresh_account(
            db,
            x_source,
            username="alice",
            need_since=DAY_AGO,
            requested_at=datetime.now(UTC),
            lease_seconds=LEASE_SECONDS,
        )
    account = await accounts.get_account(session, source="x", username="alice")
    assert account is not None
    await session.refresh(account)
    assert account.fetch_started_at is None and account.newest_post_id != new[-1]
    retried = await refresh.refresh_account(
        db,
        x_source,
        username="alice",
        need_since=DAY_AGO,
        requested_at=datetime.now(UTC),
        lease_seconds=LEASE_SECONDS,
    )
    assert retried.newest_post_id == new[-1] and retried.posts_stored == 2


async def test_a_stale_lease_is_taken_over(
    db: Database, session: AsyncSession, fake_x: tuple[FakeX, str], x_source: XSource
) -> None:
    fake, _ = fake_x
    user = fake.add_user("alice")
    fake.add_posts(user, 2, start=NOW - timedelta(hours=1))
    first = await refresh.refresh_account(
        db, x_source, username="alice", need_since=DAY_AGO, requested_at=NOW, lease_seconds=LEASE_SECONDS
    )
    account = await account_row(session, first.account_id)
    account.fetch_started_at = datetime.now(UTC) - timedelta(seconds=120)  # a worker died mid-fetch
    await session.commit()
    started = time.monotonic()
    snapshot = await refresh.refresh_account(
        db, x_source, username="alice", need_since=DAY_AGO, requested_at=datetime.now(UTC), lease_seconds=60
    )
    assert time.monotonic() - started < 2
    assert snapshot.requests_made == 1
    assert (await account_row(session, first.account_id)).fetch_started_at is None


async def test_demo_source_through_the_store(db: Database, session: AsyncSession) -> None:
    clock = [datetime(2026, 11, 25, 9, 0, tzinfo=UTC)]
    source = DemoSource(clock=lambda: clock[0])
    first = await refresh.refresh_account(
        db,
        source,
        username="chip_fan",
        need_since=clock[0] - timedelta(hours=6),
        requested_at=clock[0],
        now=lambda: clock[0],
        lease_seconds=LEASE_SECONDS,
    )
    assert first.posts_stored > 20 and first.requests_made == 2
    clock[0] += timedelta(minutes=15)
    second = await refresh.refresh_account(
        db,
        source,
        username="chip_fan",
        need_since=clock[0] - timedelta(hours=6),
        requested_at=clock[0],
        now=lambda: clock[0],
        lease_seconds=LEASE_SECONDS,
    )
    assert second.posts_stored >= 1 and int(second.newest_post_id or 0) > int(first.newest_post_id or 0)
    assert await stored_count(session, first.account_id) == first.posts_stored + second.posts_stored
    with pytest.raises(AccountNotFound):
        await refresh.refresh_account(
            db,
            source,
            username="missing",
            need_since=clock[0],
            requested_at=clock[0],
            lease_seconds=LEASE_SECONDS,
        )


async def test_rss_conditional_get_through_the_store(db: Database, session: AsyncSession) -> None:
    fake = FakeFeed()
    user = fake.add_user("alice")
    ids = fake.add_posts(user, 5, start=NOW - timedelta(hours=2), step=timedelta(minutes=10))
    with serve_app(fake.app) as base_url:
        source = RssSource(
            url_template=base_url + "/{username}/rss", public_url="http://t", timeout=2, max_retries=0
        )
        try:
            first = await refresh.refresh_account(
                db,
                source,
                username="alice",
                need_since=DAY_AGO,
                requested_at=NOW,
                lease_seconds=LEASE_SECONDS,
            )
            account = await account_row(session, first.account_id)
            assert first.posts_stored == 5 and account.etag
            second = await refresh.refresh_account(
                db,
                source,
                username="alice",
                need_since=DAY_AGO,
                requested_at=datetime.now(UTC),
                lease_seconds=LEASE_SECONDS,
            )
            assert fake.requests[-1][2]["if-none-match"] == account.etag
            assert second.posts_stored == 0 and second.requests_made == 1
            new = fake.add_posts(user, 2, start=NOW - timedelta(minutes=3))
            third = await refresh.refresh_account(
                db,
                source,
                username="alice",
                need_since=DAY_AGO,
                requested_at=datetime.now(UTC),
                lease_seconds=LEASE_SECONDS,
            )
        finally:
            await source.aclose()
    assert third.posts_stored == 2 and third.newest_post_id == new[-1]
    assert await stored_count(session, first.account_id) == 7
    assert [
        p.external_id
        for p in await store.posts_after(session, account_id=first.account_id, after_post_id=None, since=None)
    ] == ids + new
