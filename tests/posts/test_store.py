"""Reading the stored posts (posts_after, new_posts) on SQLite and PostgreSQL, after refreshes
through the real X client talking HTTP to a local fake."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from tests.posts.helpers import LEASE_SECONDS
from tests.sources.fakes import FakeX
from xtrack.db import Database
from xtrack.posts import refresh, store
from xtrack.sources.x import XSource

NOW = datetime.now(UTC).replace(microsecond=0)
DAY_AGO = NOW - timedelta(hours=24)


async def test_the_wanted_posts_are_read_in_the_refreshs_own_transaction(
    db: Database, session: AsyncSession, fake_x: tuple[FakeX, str], x_source: XSource
) -> None:
    fake, _ = fake_x
    user = fake.add_user("alice")
    ids = fake.add_posts(user, 6, start=NOW - timedelta(hours=3), step=timedelta(minutes=10))
    requested = datetime.now(UTC)
    everything = store.PostsWanted(after_post_id=None, since=DAY_AGO)

    fetched = await refresh.refresh_account(
        db,
        x_source,
        username="alice",
        need_since=DAY_AGO,
        requested_at=requested,
        wanted=everything,
        lease_seconds=LEASE_SECONDS,
    )
    assert fetched.requests_made > 0 and fetched.new_posts is not None  # read in the store transaction
    assert [p.external_id for p in fetched.new_posts.posts] == ids
    assert fetched.new_posts.cursor_created_at is None

    # The stored posts answer a second need: read in the lease transaction, newer than a cursor.
    after_third = store.PostsWanted(after_post_id=ids[2], since=None)
    stored = await refresh.refresh_account(
        db,
        x_source,
        username="alice",
        need_since=DAY_AGO,
        requested_at=requested,
        wanted=after_third,
        lease_seconds=LEASE_SECONDS,
    )
    assert stored.requests_made == 0 and stored.new_posts is not None
    assert [p.external_id for p in stored.new_posts.posts] == ids[3:]
    separate = await store.new_posts(session, account_id=stored.account_id, wanted=after_third)
    assert stored.new_posts == separate
    assert separate.cursor_created_at == NOW - timedelta(hours=3) + timedelta(minutes=20)

    # Without ``wanted`` nothing is read.
    plain = await refresh.refresh_account(
        db,
        x_source,
        username="alice",
        need_since=DAY_AGO,
        requested_at=requested,
        lease_seconds=LEASE_SECONDS,
    )
    assert plain.new_posts is None


async def test_posts_after_filters_and_limits(
    db: Database, session: AsyncSession, fake_x: tuple[FakeX, str], x_source: XSource
) -> None:
    fake, _ = fake_x
    user = fake.add_user("alice")
    ids = fake.add_posts(user, 10, start=NOW - timedelta(hours=10), step=timedelta(hours=1))
    snap = await refresh.refresh_account(
        db, x_source, username="alice", need_since=DAY_AGO, requested_at=NOW, lease_seconds=LEASE_SECONDS
    )
    since = NOW - timedelta(hours=5)
    picked = await store.posts_after(session, account_id=snap.account_id, after_post_id=ids[2], since=since)
    assert [p.external_id for p in picked] == ids[5:]
    limited = await store.posts_after(
        session, account_id=snap.account_id, after_post_id=ids[2], since=None, limit=3
    )
    assert [p.external_id for p in limited] == ids[3:6]
    assert all(p.created_at.tzinfo is not None for p in picked)
