"""Runs through the real X source against the fake X fed documented answers: whole posts reach the
summarizer, an edited post counts once, and a used-up quota pauses X for every job until it is
resumed, with one notice to the operator."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import make_job
from tests.executions.fakes import Clock, ScriptedSummarizer
from tests.fakes.server import serve_app
from tests.sources import x_shapes as shapes
from tests.sources.fakes import FakeTwitterApi, FakeX
from xtrack.config import Settings
from xtrack.db import Database
from xtrack.executions import dispatcher
from xtrack.executions.heartbeat import Heartbeats
from xtrack.executions.models import ExecutionStatus, JobExecution
from xtrack.executions.runner import run_execution
from xtrack.posts import limits as posts_limits
from xtrack.posts.models import SourceLimit, StoredPost
from xtrack.sources.base import Source
from xtrack.sources.ids import snowflake
from xtrack.sources.twitterapi import TwitterApiSource
from xtrack.sources.x import XSource
from xtrack.summarize.prompts import build_prompt

T0 = shapes.START + timedelta(hours=1)


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def fake() -> Iterator[tuple[FakeX, str]]:
    fake_x = FakeX()
    with serve_app(fake_x.app) as base_url:
        yield fake_x, base_url


@pytest.fixture
async def x_source(fake: tuple[FakeX, str], clock: Clock) -> AsyncIterator[XSource]:
    source = XSource(
        base_url=fake[1],
        bearer_token="good-token",
        public_url="http://xtrack.test",
        timeout=2.0,
        max_retries=0,
        clock=clock,
    )
    yield source
    await source.aclose()


async def run_due(
    db: Database, clock: Clock, source: Source, settings: Settings, summarizer: ScriptedSummarizer
) -> list[int]:
    dispatched = (await dispatcher.tick(db, now=clock())).dispatched
    for execution_id in dispatched:
        await run_execution(
            execution_id,
            now=clock,
            database=db,
            settings=settings,
            source=source,
            summarizer=summarizer,
            heartbeats=Heartbeats(auto_start=False),
        )
    return dispatched


async def execution(session: AsyncSession, execution_id: int) -> JobExecution:
    row = await session.get(JobExecution, execution_id, populate_existing=True)
    assert row is not None
    return row


async def test_long_posts_reposts_and_quotes_reach_the_summarizer_whole(
    db: Database,
    session: AsyncSession,
    clock: Clock,
    fake: tuple[FakeX, str],
    x_source: XSource,
    settings: Settings,
) -> None:
    fake_x, _ = fake
    fake_x.add_user("alice").id = shapes.ALICE["id"]
    body, texts = shapes.whole_posts_page()
    fake_x.script_timeline(body)
    await make_job(session, now=clock())
    await session.commit()
    summarizer = ScriptedSummarizer()

    [run_id] = await run_due(db, clock, x_source, settings, summarizer)

    run = await execution(session, run_id)
    assert run.status == ExecutionStatus.COMPLETED.value, run.error_message
    assert run.tweets_fetched == 4  # each post once: the included originals are not posts of alice
    [request] = summarizer.requests
    prompt = build_prompt(request).user
    in_prompt = set(re.findall(r"[a-z]+\d+", prompt))
    for post_id, text in texts.items():
        words = [word for word in text.split() if not word.startswith("https://")]
        assert len(" ".join(words)) > 550
        missing = [word for word in words if word not in in_prompt]
        assert not missing, (post_id, missing[:5])
    assert '"text":"@alice reposted @bob: bob0 bob1' in prompt
    assert "(@alice quoting @carol: carol0 carol1" in prompt
    assert "t.co" not in prompt and "https://example.com/ownLnk" in prompt
    # What the run cost upstream: one user lookup, one timeline page of 4 posts and 2 included ones.
    assert (run.source_requests, run.posts_read) == (2, 6)
    assert run.source_cost_usd == pytest.approx(6 * 0.005 + 0.010)


async def test_an_edited_post_counts_once(
    db: Database,
    session: AsyncSession,
    clock: Clock,
    fake: tuple[FakeX, str],
    x_source: XSource,
    settings: Settings,
) -> None:
    fake_x, _ = fake
    fake_x.add_user("alice").id = shapes.ALICE["id"]
    first, latest = shapes.post_id(5), shapes.post_id(20)
    before_edit = shapes.tweet(first, shapes.ALICE, "Launch on Friday", minutes=5)
    fake_x.script_timeline(shapes.page([before_edit]))
    job = await make_job(session, now=clock(), frequency=60)
    await session.commit()
    summarizer = ScriptedSummarizer()
    [first_run] = await run_due(db, clock, x_source, settings, summarizer)
    assert (await execution(session, first_run)).tweets_fetched == 1

    # An hour later the post was edited: the timeline has both versions, each listing the history.
    history = [first, latest]
    old = shapes.tweet(first, shapes.ALICE, "Launch on Friday", minutes=5, history=history)
    new = shapes.tweet(latest, shapes.ALICE, "Launch on Monday", minutes=20, history=history)
    fake_x.script_timeline(shapes.page([new, old]))
    clock.advance(timedelta(hours=1))
    [second_run] = await run_due(db, clock, x_source, settings, summarizer)

    second = await execution(session, second_run)
    assert second.status == ExecutionStatus.COMPLETED.value, second.error_message
    assert second.tweets_fetched == 1
    assert [post.text for post in summarizer.requests[-1].posts] == ["Launch on Monday"]
    stored = list(await session.scalars(select(StoredPost.external_id).order_by(StoredPost.id)))
    assert stored == [latest]  # the earlier version is gone: one post, the latest
    assert job.id is not None


async def test_used_up_credits_pause_x_for_every_job_until_resumed(
    db: Database,
    session: AsyncSession,
    clock: Clock,
    fake: tuple[FakeX, str],
    x_source: XSource,
    settings: Settings,
) -> None:
    fake_x, _ = fake
    for name in ("alice", "bob", "carol"):
        fake_x.add_user(name)
    await make_job(session, x_username="alice", now=clock())
    await session.commit()
    fake_x.script_timeline(shapes.CREDITS_DEPLETED, status=402)
    summarizer = ScriptedSummarizer()

    with structlog.testing.capture_logs() as logs:
        [failed_id] = await run_due(db, clock, x_source, settings, summarizer)
        failed = await execution(session, failed_id)
        assert failed.status == ExecutionStatus.FAILED.value
        assert (failed.error_kind, failed.error_message) == ("quota_exhausted", "X API credits are used up")
        assert failed.attempt == 1  # not retried: a retry cannot help before a top-up
        calls = len(fake_x.requests)

        # Other jobs' scheduled runs fail the same way without calling X.
        clock.advance(timedelta(minutes=5))
        await make_job(session, x_username="bob", now=clock())
        await make_job(session, x_username="carol", now=clock())
        await session.commit()
        later = await run_due(db, clock, x_source, settings, summarizer)
        assert len(later) == 2
        for run_id in later:
            run = await execution(session, run_id)
            assert (run.status, run.error_kind) == (ExecutionStatus.FAILED.value, "quota_exhausted")
            assert run.error_message == "X API credits are used up"
        assert len(fake_x.requests) == calls
    notices = [entry for entry in logs if entry["event"] == "source.paused"]
    assert len(notices) == 1 and notices[0]["source"] == "x"
    assert notices[0]["log_level"] == "error"

    # The operator tops up and resumes X: the next run calls it again.
    async with db.session() as resume:
        assert await posts_limits.resume_source(resume, "x", now=clock()) is True
    limit = await session.get(SourceLimit, "x", populate_existing=True)
    assert limit is not None and limit.paused_until is None
    clock.advance(timedelta(hours=1))
    resumed = await run_due(db, clock, x_source, settings, summarizer)
    assert resumed
    for run_id in resumed:
        assert (await execution(session, run_id)).status == ExecutionStatus.COMPLETED.value
    assert len(fake_x.requests) > calls


async def test_the_monthly_cap_pauses_x_until_the_first_of_next_month(
    db: Database,
    session: AsyncSession,
    clock: Clock,
    fake: tuple[FakeX, str],
    x_source: XSource,
    settings: Settings,
) -> None:
    fake_x, _ = fake
    fake_x.add_user("alice")
    await make_job(session, x_username="alice", now=clock())
    await session.commit()
    fake_x.script_timeline(shapes.USAGE_CAPPED, status=429)

    [run_id] = await run_due(db, clock, x_source, settings, ScriptedSummarizer())

    run = await execution(session, run_id)
    assert (run.status, run.error_kind) == (ExecutionStatus.FAILED.value, "quota_exhausted")
    assert run.error_message == "X API monthly cap reached, resets on 2026-12-01"
    limit = await session.get(SourceLimit, "x", populate_existing=True)
    assert limit is not None and limit.paused_until == datetime(2026, 12, 1, tzinfo=UTC)

    # Until the reset no run calls X; from the reset on, runs call it again by themselves.
    calls = len(fake_x.requests)
    clock.now = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    [held] = await run_due(db, clock, x_source, settings, ScriptedSummarizer())
    assert (await execution(session, held)).error_kind == "quota_exhausted"
    assert len(fake_x.requests) == calls
    clock.now = datetime(2026, 12, 1, 0, 5, tzinfo=UTC)
    [after_reset] = await run_due(db, clock, x_source, settings, ScriptedSummarizer())
    assert (await execution(session, after_reset)).status == ExecutionStatus.COMPLETED.value
    assert len(fake_x.requests) > calls


async def test_a_twitterapi_cursor_that_never_advances_completes_with_a_visible_gap(
    db: Database, session: AsyncSession, clock: Clock, settings: Settings
) -> None:
    fake_api = FakeTwitterApi()
    fake_api.add_user("alice")
    created = T0 - timedelta(minutes=10)
    tweet = {
        "type": "tweet",
        "id": str(snowflake(created, 1)),
        "text": "one post on a page that never ends",
        "createdAt": created.strftime("%a %b %d %H:%M:%S +0000 %Y"),
        "author": {"userName": "alice"},
    }
    for _ in range(100):
        fake_api.search_script.append(
            (200, {"tweets": [tweet], "has_next_page": True, "next_cursor": "stuck"})
        )
    await make_job(session, x_username="alice", now=clock())
    await session.commit()
    with serve_app(fake_api.app) as base_url:
        source = TwitterApiSource(
            base_url=base_url,
            api_key="good-key",
            public_url="http://t",
            timeout=2,
            max_retries=0,
            max_pages=20,
        )
        try:
            [run_id] = await run_due(db, clock, source, settings, ScriptedSummarizer())
        finally:
            await source.aclose()

    run = await execution(session, run_id)
    assert run.status == ExecutionStatus.COMPLETED.value, run.error_message
    assert fake_api.count("advanced_search") <= settings.twitterapi_max_pages
    assert run.gap is True and run.gap_note is not None and "repeated a page cursor" in run.gap_note
    assert run.tweets_fetched == 1 and run.source_requests == fake_api.count("/twitter/")
    assert run.source_cost_usd == pytest.approx(run.posts_read * 0.15 / 1000)
