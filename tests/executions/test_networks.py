"""A briefing over X, Bluesky and Mastodon accounts through the runner, each network read from its
stand-in server over real HTTP by its own source (issue 25's acceptance)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import fresh_database_url, make_user
from tests.executions.fakes import Clock
from tests.fakes.server import serve_app
from tests.sources.bluesky_fake import FakeBluesky
from tests.sources.fakes import FakeX
from tests.sources.mastodon_fake import FakeMastodon
from xtrack import migrate
from xtrack.config import Settings, set_settings
from xtrack.db import Database, create_engine
from xtrack.executions import service as executions_service
from xtrack.executions.heartbeat import Heartbeats
from xtrack.executions.models import ExecutionStatus, JobExecution
from xtrack.executions.runner import run_execution
from xtrack.jobs import service as jobs_service
from xtrack.jobs.models import Job
from xtrack.jobs.schemas import JobCreate
from xtrack.posts.models import SourceLimit, StoredPost, XAccount
from xtrack.sources.bluesky import BlueskySource
from xtrack.sources.handles import Network
from xtrack.sources.ids import snowflake
from xtrack.sources.mastodon import MastodonSource
from xtrack.sources.networks import NetworkSources
from xtrack.sources.x import XSource
from xtrack.summaries.models import Summary
from xtrack.users.models import User

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def own_database(request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    url = fresh_database_url(request.param, "networks")
    await asyncio.to_thread(migrate.upgrade, url)
    database = Database(create_engine(url, pool_size=10))
    yield database
    await database.dispose()


@pytest.fixture
async def db(own_database: Database, settings: Settings) -> AsyncIterator[Database]:
    set_settings(settings)
    yield own_database
    async with own_database.session() as session:
        for table in (StoredPost, XAccount, SourceLimit, Job, User):
            await session.execute(delete(table))


@pytest.fixture
def upstreams() -> Iterator[tuple[FakeX, FakeBluesky, FakeMastodon, dict[str, str]]]:
    x, bluesky, mastodon = FakeX(), FakeBluesky(), FakeMastodon("mastodon.test")
    with serve_app(x.app) as x_url, serve_app(bluesky.app) as bsky_url, serve_app(mastodon.app) as masto_url:
        yield x, bluesky, mastodon, {"x": x_url, "bluesky": bsky_url, "mastodon": masto_url}


@pytest.fixture
async def sources(
    upstreams: tuple[FakeX, FakeBluesky, FakeMastodon, dict[str, str]],
) -> AsyncIterator[NetworkSources]:
    urls = upstreams[3]
    common = {
        "public_url": "http://xtrack.test",
        "timeout": 2.0,
        "max_retries": 1,
        "retry_base_seconds": 0.01,
    }
    routed = NetworkSources(
        XSource(base_url=urls["x"], bearer_token="good-token", **common),  # type: ignore[arg-type]
        {
            Network.BLUESKY: BlueskySource(base_url=urls["bluesky"], **common),  # type: ignore[arg-type]
            Network.MASTODON: MastodonSource(base_url=urls["mastodon"], allow_private=True, **common),  # type: ignore[arg-type]
        },
    )
    yield routed
    await routed.aclose()


def _x_post(user, minutes_ago: int, text: str) -> str:  # type: ignore[no-untyped-def]
    created = NOW - timedelta(minutes=minutes_ago)
    post_id = str(snowflake(created, len(user.posts) + 1))
    user.posts.append({"id": post_id, "text": text, "created_at": created, "referenced_tweets": []})
    user.posts.sort(key=lambda p: int(p["id"]))
    return post_id


async def _run(
    db: Database, session: AsyncSession, job: Job, source: NetworkSources, settings: Settings, at: datetime
) -> JobExecution:
    execution = await executions_service.run_now(
        session, owner_id=job.user_id, job_id=job.id, now=at, executor=None
    )
    await session.commit()
    await run_execution(
        execution.id,
        database=db,
        settings=settings,
        source=source,
        heartbeats=Heartbeats(auto_start=False),
        summarizer=None,
        now=Clock(at),
    )
    found = await session.get(JobExecution, execution.id, populate_existing=True)
    assert found is not None
    return found


def _ago(minutes: int) -> datetime:
    return NOW - timedelta(minutes=minutes)


async def test_a_briefing_over_x_bluesky_and_mastodon(
    db: Database,
    session: AsyncSession,
    settings: Settings,
    upstreams: tuple[FakeX, FakeBluesky, FakeMastodon, dict[str, str]],
    sources: NetworkSources,
) -> None:
    x, bluesky, mastodon, _ = upstreams
    alice = x.add_user("alice")
    carol, dan = bluesky.add_actor("carol.bsky.social"), bluesky.add_actor("dan.example.com")
    bob, erin = mastodon.add_account("bob"), mastodon.add_account("erin@other.test")
    x_post = _x_post(alice, 50, "X: chips ship next week")
    carol_own = bluesky.post(carol, "Bluesky: chips are sold out", _ago(45))
    dan_original = bluesky.post(dan, "Dan: a chips fab opens", _ago(44))
    bluesky.repost(carol, dan_original, _ago(40))
    bob_own = mastodon.post(
        bob, "<p>Mastodon: <a href='https://example.com/chips'>chips news</a></p>", _ago(35)
    )
    erin_original = mastodon.post(erin, "<p>Erin: chips prices fall</p>", _ago(34))
    mastodon.reblog(bob, erin, erin_original, _ago(30))
    owner = await make_user(session)
    data = JobCreate.model_validate(
        {
            "accounts": ["@alice", "carol.bsky.social", "@bob@mastodon.test"],
            "topics": ["chips"],
            "frequency": 60,
        }
    )
    job = await jobs_service.create(session, owner=owner, data=data, max_jobs=100, now=NOW)
    await session.commit()

    first = await _run(db, session, job, sources, settings, NOW)

    assert first.status == ExecutionStatus.COMPLETED.value, first.error_message
    assert first.tweets_fetched == 5 and first.warnings is None
    summary = (await session.scalars(select(Summary).where(Summary.execution_id == first.id))).one()
    content = summary.content
    assert f"https://x.com/alice/status/{x_post}" in content
    assert f"https://bsky.app/profile/carol.bsky.social/post/{carol_own.rsplit('/', 1)[-1]}" in content
    assert f"https://mastodon.test/@bob/{bob_own}" in content
    # The repost and the reblog read as their original authors' words, shared by the followed account.
    assert (
        "**@dan.example.com**: Dan: a chips fab opens — [post](https://bsky.app/profile/dan.example.com/"
        f"post/{dan_original.rsplit('/', 1)[-1]}) · reposted by @carol.bsky.social\n" in content
    )
    assert (
        f"**@erin@other.test**: Erin: chips prices fall — [post](https://mastodon.test/@erin/{erin_original})"
        " · reposted by @bob@mastodon.test\n" in content
    )
    assert "Mastodon: chips news — " in content  # the link text kept (the offline summary drops addresses)
    accounts = {
        row.network: (row.source, row.username) for row in (await session.scalars(select(XAccount))).all()
    }
    assert accounts == {
        "x": ("x", "alice"),
        "bluesky": ("bluesky", "carol.bsky.social"),
        "mastodon": ("mastodon", "bob@mastodon.test"),
    }
    assert first.source_cost_usd == pytest.approx(
        settings.x_price_per_post_usd + settings.x_price_per_user_lookup_usd
    )

    # Two new posts on each network: the second run reads exactly those six, one request each.
    later = NOW + timedelta(minutes=30)
    new = {
        _x_post(alice, -10, "X: new chips 1"),
        _x_post(alice, -11, "X: new chips 2"),
        *(bluesky.post(carol, f"Bluesky: new chips {i}", NOW + timedelta(minutes=10 + i)) for i in range(2)),
        *(
            mastodon.post(bob, f"<p>Mastodon: new chips {i}</p>", NOW + timedelta(minutes=10 + i))
            for i in range(2)
        ),
    }
    requests = (x.count("/tweets"), bluesky.count("getAuthorFeed"), mastodon.count("/statuses"))
    lookups = (x.count("/users/by/"), bluesky.count("getProfile"), mastodon.count("/lookup"))
    x_served = x.posts_served
    stored_before = await session.scalar(select(func.count()).select_from(StoredPost))

    second = await _run(db, session, job, sources, settings, later)

    assert second.status == ExecutionStatus.COMPLETED.value, second.error_message
    assert second.tweets_fetched == 6
    assert (x.count("/tweets"), bluesky.count("getAuthorFeed"), mastodon.count("/statuses")) == tuple(
        n + 1 for n in requests
    )
    assert (x.count("/users/by/"), bluesky.count("getProfile"), mastodon.count("/lookup")) == lookups
    assert x.posts_served - x_served == 2 and second.source_requests == 3
    assert await session.scalar(select(func.count()).select_from(StoredPost)) == (stored_before or 0) + 6
    summary = (await session.scalars(select(Summary).where(Summary.execution_id == second.id))).one()
    stored = {
        post.url: post.external_id
        for post in (
            await session.scalars(
                select(StoredPost).where(StoredPost.external_id.in_(summary.raw_data["post_ids"]))
            )
        ).all()
    }
    assert len(stored) == 6
    links = set(stored)
    assert {url.split("/")[-1] for url in links if "x.com" in url} <= new
    assert sum("bsky.app" in url for url in links) == 2 and sum("mastodon.test" in url for url in links) == 2


async def test_a_suspended_mastodon_account_is_a_warning_not_a_failed_briefing(
    db: Database,
    session: AsyncSession,
    settings: Settings,
    upstreams: tuple[FakeX, FakeBluesky, FakeMastodon, dict[str, str]],
    sources: NetworkSources,
) -> None:
    x, bluesky, mastodon, _ = upstreams
    alice = x.add_user("alice")
    _x_post(alice, 20, "chips")
    carol = bluesky.add_actor("carol.bsky.social")
    bluesky.post(carol, "chips on Bluesky", _ago(15))
    mastodon.add_account("gone", suspended=True)
    owner = await make_user(session)
    data = JobCreate.model_validate(
        {"accounts": ["alice", "carol.bsky.social", "@gone@mastodon.test"], "frequency": 60}
    )
    job = await jobs_service.create(session, owner=owner, data=data, max_jobs=100, now=NOW)
    await session.commit()

    execution = await _run(db, session, job, sources, settings, NOW)

    assert execution.status == ExecutionStatus.COMPLETED.value
    assert execution.warnings == ["@gone@mastodon.test was skipped: it is suspended."]
    assert execution.tweets_fetched == 2
    gone = (await session.scalars(select(XAccount).where(XAccount.network == "mastodon"))).one()
    assert gone.state == "suspended"


async def test_a_bluesky_rate_limit_is_its_own_shared_row_and_holds_back_the_next_run(
    db: Database,
    session: AsyncSession,
    settings: Settings,
    upstreams: tuple[FakeX, FakeBluesky, FakeMastodon, dict[str, str]],
    sources: NetworkSources,
) -> None:
    x, bluesky, _mastodon, _ = upstreams
    alice = x.add_user("alice")
    _x_post(alice, 20, "chips")
    carol = bluesky.add_actor("carol.bsky.social")
    bluesky.post(carol, "chips on Bluesky", _ago(15))
    # Far enough ahead that the reset is still to come when the suite reaches this test (NOW is taken
    # at import, and the HTTP layer reads the header against the real clock).
    reset = NOW + timedelta(hours=1)
    bluesky.fail_next(
        429,
        body={"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
        headers={"ratelimit-remaining": "0", "ratelimit-reset": str(int(reset.timestamp()))},
    )
    owner = await make_user(session)
    data = JobCreate.model_validate({"accounts": ["alice", "carol.bsky.social"], "frequency": 60})
    job = await jobs_service.create(session, owner=owner, data=data, max_jobs=100, now=NOW)
    await session.commit()

    first = await _run(db, session, job, sources, settings, NOW)

    assert first.status == ExecutionStatus.COMPLETED.value and first.tweets_fetched == 1
    assert first.warnings == [
        "@carol.bsky.social was skipped: the source is rate limited; it is read again next run."
    ]
    limits = {
        row.source: row.rate_limited_until for row in (await session.scalars(select(SourceLimit))).all()
    }
    assert limits.get("bluesky") == reset and limits.get("x") is None
    calls = bluesky.count("xrpc")

    second = await _run(db, session, job, sources, settings, NOW + timedelta(minutes=1))

    assert second.warnings and "rate limited" in second.warnings[0]
    assert bluesky.count("xrpc") == calls  # every process honours the shared row: no request before T
