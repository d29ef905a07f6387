"""Concurrent refreshes of one account on a real database with separate connections and commits,
on SQLite and PostgreSQL. Separate ``Database`` objects stand for separate processes: they share
nothing but the database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, event, func, select

from tests.conftest import wait_until
from tests.posts.helpers import LEASE_SECONDS
from tests.sources.fakes import FakeX
from xtrack.db import Database, create_engine
from xtrack.posts import limits, refresh, store
from xtrack.posts.models import SourceLimit, StoredPost, XAccount
from xtrack.sources.base import BadCredentials, SourceRateLimited
from xtrack.sources.x import XSource

NOW = datetime.now(UTC).replace(microsecond=0)
DAY_AGO = NOW - timedelta(hours=24)


@pytest.fixture
async def other_processes(own_database: Database) -> AsyncIterator[Callable[[], Database]]:
    """Extra Database objects (own engine and pool) on the same database."""
    made: list[Database] = []
    url = own_database.engine.url.render_as_string(hide_password=False)

    def make() -> Database:
        made.append(Database(create_engine(url, pool_size=5)))
        return made[-1]

    yield make
    for database in made:
        await database.dispose()


def new_source(base_url: str) -> XSource:
    return XSource(
        base_url=base_url,
        bearer_token="good-token",
        public_url="http://t",
        timeout=5,
        max_retries=0,
        retry_base_seconds=0.01,
    )


async def stored(database: Database, account_id: int) -> int:
    async with database.session() as session:
        return int(await session.scalar(select(func.count()).where(StoredPost.account_id == account_id)) or 0)


async def test_50_concurrent_refreshes_in_one_process_make_one_fetch(
    own_database: Database, fake_x: tuple[FakeX, str], x_source: XSource
) -> None:
    fake, _ = fake_x
    user = fake.add_user("alice")
    ids = fake.add_posts(user, 250, start=NOW - timedelta(hours=2))
    fake.delay = 0.05
    requested = datetime.now(UTC)

    wanted = store.PostsWanted(after_post_id=None, since=DAY_AGO)
    snapshots = await asyncio.gather(
        *(
            refresh.refresh_account(
                own_database,
                x_source,
                username="alice",
                need_since=DAY_AGO,
                requested_at=requested,
                wanted=wanted,
                lease_seconds=LEASE_SECONDS,
            )
            for _ in range(50)
        )
    )

    # The caller that fetched got the posts read in its store transaction; callers that joined it
    # get none of it (they read their own, with their own cursor).
    [fetcher] = [s for s in snapshots if s.requests_made]
    assert fetcher.new_posts is not None and len(fetcher.new_posts.posts) == 250
    assert all(s.new_posts is None for s in snapshots if s is not fetcher)
    assert fake.count("/users/by/username") == 1
    assert fake.count("/tweets") == 3  # one fetch: its three pages
    assert fake.posts_served == 250
    assert {s.newest_post_id for s in snapshots} == {ids[-1]}
    assert sum(s.posts_stored for s in snapshots) == 250
    assert sum(1 for s in snapshots if s.requests_made) == 1
    assert await stored(own_database, snapshots[0].account_id) == 250


async def test_fetches_finishing_together_write_the_shared_budget_row_once(
    own_database: Database,
    fake_x: tuple[FakeX, str],
    x_source: XSource,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake, _ = fake_x
    names = [f"budget{i}" for i in range(20)]
    for name in names:
        fake.add_posts(fake.add_user(name), 2, start=NOW - timedelta(hours=1))
    fake.remaining = 500
    monkeypatch.setattr(limits, "_remaining_written", {})  # no write yet in this process
    writes: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "source_limits" in statement and not statement.lstrip().startswith("SELECT"):
            writes.append(statement)

    engine = own_database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        await asyncio.gather(
            *(
                refresh.refresh_account(
                    own_database,
                    x_source,
                    username=name,
                    need_since=DAY_AGO,
                    requested_at=NOW,
                    lease_seconds=LEASE_SECONDS,
                )
                for name in names
            )
        )
    finally:
        event.remove(engine, "before_cursor_execute", record)
    # One fetch writes the row (UPDATE, or INSERT and UPDATE when it is new); the other 19 skip it
    # rather than queue on its lock inside their store transactions.
    assert 1 <= len(writes) <= 3
    async with own_database.session() as session:
        limit = await session.get(SourceLimit, "x")
        assert limit is not None and limit.remaining is not None and 480 <= limit.remaining < 500


async def test_50_concurrent_refreshes_across_processes_make_one_fetch(
    own_database: Database,
    other_processes: Callable[[], Database],
    fake_x: tuple[FakeX, str],
) -> None:
    fake, base_url = fake_x
    user = fake.add_user("alice")
    ids = fake.add_posts(user, 120, start=NOW - timedelta(hours=2))
    fake.delay = 0.2  # the fetch is in flight while the others arrive: they must join it
    processes = [(other_processes(), new_source(base_url)) for _ in range(5)]
    requested = datetime.now(UTC)
    try:
        snapshots = await asyncio.gather(
            *(
                refresh.refresh_account(
                    database,
                    source,
                    username="alice",
                    need_since=DAY_AGO,
                    requested_at=requested,
                    lease_seconds=LEASE_SECONDS,
                )
                for database, source in processes
                for _ in range(10)
            )
        )
    finally:
        for _database, source in processes:
            await source.aclose()

    assert fake.count("/users/by/username") == 1
    assert fake.count("/tweets") == 2  # 120 posts: two pages of one fetch
    assert fake.posts_served == 120
    assert {s.newest_post_id for s in snapshots} == {ids[-1]}
    assert sum(s.posts_stored for s in snapshots) == 120
    assert await stored(own_database, snapshots[0].account_id) == 120


@pytest.mark.parametrize("same_process", [True, False])
async def test_run_now_sees_a_post_published_during_an_earlier_fetch(
    same_process: bool,
    own_database: Database,
    other_processes: Callable[[], Database],
    fake_x: tuple[FakeX, str],
    x_source: XSource,
) -> None:
    fake, base_url = fake_x
    user = fake.add_user("alice")
    fake.add_posts(user, 3, start=NOW - timedelta(hours=1))
    await refresh.refresh_account(
        own_database,
        x_source,
        username="alice",
        need_since=DAY_AGO,
        requested_at=NOW,
        lease_seconds=LEASE_SECONDS,
    )
    fake.delay = 0.4
    built = fake.answers_built
    scheduled = asyncio.create_task(
        refresh.refresh_account(
            own_database,
            x_source,
            username="alice",
            need_since=DAY_AGO,
            requested_at=datetime.now(UTC),
            lease_seconds=LEASE_SECONDS,
        )
    )

    async def scheduled_answer_in_flight() -> bool:
        return fake.answers_built > built

    # Wait for the fake to fix the scheduled run's answer (a fixed sleep lost this race on a slow host)
    await wait_until(scheduled_answer_in_flight, timeout=10, what="the scheduled answer", interval=0.01)
    fresh = fake.add_posts(user, 1, start=datetime.now(UTC) - timedelta(seconds=1))
    if same_process:
        database, source = own_database, x_source
    else:
        database, source = other_processes(), new_source(base_url)
    try:
        run_now = await refresh.refresh_account(
            database,
            source,
            username="alice",
            need_since=DAY_AGO,
            requested_at=datetime.now(UTC),
            lease_seconds=LEASE_SECONDS,
        )
    finally:
        if source is not x_source:
            await source.aclose()
    earlier = await scheduled

    assert earlier.newest_post_id != fresh[0]  # its answer was on the way before the post existed
    assert run_now.newest_post_id == fresh[0]
    assert run_now.requests_made == 1 and run_now.posts_stored == 1
    assert fake.count("/tweets") == 3  # first fetch, the scheduled run, run now's own since_id call


async def test_callers_that_joined_a_failed_fetch_get_its_error(
    own_database: Database, fake_x: tuple[FakeX, str], x_source: XSource
) -> None:
    fake, _ = fake_x
    user = fake.add_user("alice")
    fake.add_posts(user, 3, start=NOW - timedelta(hours=1))
    await refresh.refresh_account(
        own_database,
        x_source,
        username="alice",
        need_since=DAY_AGO,
        requested_at=NOW,
        lease_seconds=LEASE_SECONDS,
    )
    fake.fail_next(401, delay=0.1)
    requested = datetime.now(UTC)
    results = await asyncio.gather(
        *(
            refresh.refresh_account(
                own_database,
                x_source,
                username="alice",
                need_since=DAY_AGO,
                requested_at=requested,
                lease_seconds=LEASE_SECONDS,
            )
            for _ in range(10)
        ),
        return_exceptions=True,
    )
    assert all(isinstance(r, BadCredentials) for r in results)
    assert fake.count("/tweets") == 2  # the first refresh, then one failed call shared by all ten


async def test_a_429_in_one_process_stops_the_others(
    own_database: Database, other_processes: Callable[[], Database], fake_x: tuple[FakeX, str]
) -> None:
    fake, base_url = fake_x
    fake.add_user("alice")
    fake.add_user("bob")
    reset = int(datetime.now(UTC).timestamp()) + 60
    # The timelines' bucket (a 429 on the user lookup is that endpoint's own: tests/sources).
    fake.script_timeline(
        {"title": "Too Many Requests", "type": "about:blank", "status": 429},
        status=429,
        headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)},
    )
    first, second = new_source(base_url), new_source(base_url)
    try:
        with pytest.raises(SourceRateLimited):
            await refresh.refresh_account(
                own_database,
                first,
                username="alice",
                need_since=DAY_AGO,
                requested_at=NOW,
                lease_seconds=LEASE_SECONDS,
            )
        with pytest.raises(SourceRateLimited) as caught:
            await refresh.refresh_account(
                other_processes(),
                second,
                username="bob",
                need_since=DAY_AGO,
                requested_at=NOW,
                lease_seconds=LEASE_SECONDS,
            )
    finally:
        await first.aclose()
        await second.aclose()
    assert caught.value.reset_at == datetime.fromtimestamp(reset, tz=UTC)
    assert len(fake.requests) == 2  # alice's lookup and timeline; nothing for bob


async def test_a_deleted_and_reused_account_id_is_not_mistaken_for_another_account(
    own_database: Database, fake_x: tuple[FakeX, str], x_source: XSource
) -> None:
    fake, _ = fake_x
    alice, bob = fake.add_user("alice"), fake.add_user("bob")
    fake.add_posts(alice, 2, start=NOW - timedelta(hours=1))
    bob_ids = fake.add_posts(bob, 3, start=NOW - timedelta(hours=1))
    await refresh.refresh_account(
        own_database,
        x_source,
        username="alice",
        need_since=DAY_AGO,
        requested_at=NOW,
        lease_seconds=LEASE_SECONDS,
    )
    async with own_database.session() as session:
        await session.execute(delete(XAccount))  # e.g. a clean-up of unfollowed accounts
    first_bob = await refresh.refresh_account(
        own_database,
        x_source,
        username="bob",
        need_since=DAY_AGO,
        requested_at=NOW,
        lease_seconds=LEASE_SECONDS,
    )
    again = await refresh.refresh_account(
        own_database,
        x_source,
        username="alice",
        need_since=DAY_AGO,
        requested_at=datetime.now(UTC),
        lease_seconds=LEASE_SECONDS,
    )
    assert first_bob.newest_post_id == bob_ids[-1]
    assert again.username == "alice" and again.account_id != first_bob.account_id
    assert again.posts_stored == 2
