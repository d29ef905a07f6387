"""Budgets end to end, through the real X source on the fake X and the real OpenAI-compatible
summarizer on a fake LLM: a spent budget sends its 80 % and 100 % notices once, then either
summarizes offline (no LLM request) or cancels scheduled slots and refuses manual runs; a run with
fewer than XTRACK_LLM_MIN_POSTS new posts never calls the LLM."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import auth_headers, make_job, make_user, queue_playground_run
from tests.executions.fakes import Clock
from tests.fakes.server import serve_app
from tests.sources.fakes import FakeX
from tests.summarize.conftest import llm_settings
from tests.summarize.fakes import FakeLLM, openai_reply
from xtrack.config import Settings
from xtrack.db import Database, utcnow
from xtrack.executions import budget as budgets
from xtrack.executions import dispatcher
from xtrack.executions.heartbeat import Heartbeats
from xtrack.executions.models import ExecutionStatus, JobExecution
from xtrack.executions.runner import run_execution
from xtrack.jobs.models import Job
from xtrack.notify.models import NotificationDelivery, NotificationTarget
from xtrack.notify.outbox import RunNotifications
from xtrack.sources.x import XSource
from xtrack.summaries.models import Summary
from xtrack.summarize.registry import Summarizers
from xtrack.users.models import User

# The second day of the current month (UTC): the API's budget check reads the real clock, and the
# runs must fall in the same month, an hour apart.
T0 = budgets.month_bounds(utcnow(), "UTC")[0] + timedelta(days=1, hours=12)
RESETS = budgets.month_bounds(utcnow(), "UTC")[1].strftime("%d %b %Y")


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def fake_x() -> Iterator[tuple[FakeX, str]]:
    fake = FakeX()
    with serve_app(fake.app) as base_url:
        yield fake, base_url


@pytest.fixture
def fake_llm() -> Iterator[tuple[FakeLLM, str]]:
    fake = FakeLLM("/v1/chat/completions", openai_reply)
    with serve_app(fake.app) as base_url:
        yield fake, f"{base_url}/v1"


@pytest.fixture
async def x_source(fake_x: tuple[FakeX, str], clock: Clock) -> AsyncIterator[XSource]:
    source = XSource(
        base_url=fake_x[1],
        bearer_token="good-token",
        public_url="http://xtrack.test",
        timeout=2.0,
        max_retries=0,
        clock=clock,
    )
    yield source
    await source.aclose()


@pytest.fixture
async def summarizers(fake_llm: tuple[FakeLLM, str]) -> AsyncIterator[Summarizers]:
    llm = Summarizers(llm_settings("openai", fake_llm[1]))
    yield llm
    await llm.aclose()


def run_settings(settings: Settings) -> Settings:
    # Posts only, so the first run's 5 posts cost exactly 5 x $0.005 = $0.025 (lookups priced 0 here).
    return settings.model_copy(update={"x_price_per_user_lookup_usd": 0.0, "llm_min_posts": 3})


async def run_due(
    db: Database, clock: Clock, source: XSource, settings: Settings, summarizers: Summarizers
) -> list[int]:
    dispatched = (await dispatcher.tick(db, now=clock())).dispatched
    for execution_id in dispatched:
        await run_execution(
            execution_id,
            now=clock,
            database=db,
            settings=settings,
            source=source,
            summarizer=summarizers,
            heartbeats=Heartbeats(auto_start=False),
            hooks=RunNotifications(settings),
        )
    return dispatched


async def owner_with_budget(session: AsyncSession, *, action: str) -> User:
    user = await make_user(session)
    user.monthly_budget_usd = 0.02
    user.budget_action = action
    session.add(NotificationTarget(user_id=user.id, kind="email", name="inbox", email=user.email))
    await session.flush()
    return user


async def budget_deliveries(session: AsyncSession, user: User) -> list[str]:
    rows = await session.scalars(
        select(NotificationDelivery.kind)
        .join(NotificationTarget, NotificationTarget.id == NotificationDelivery.target_id)
        .where(NotificationTarget.user_id == user.id, NotificationDelivery.kind.like("budget%"))
        .order_by(NotificationDelivery.id)
    )
    return list(rows)


async def first_run_spends_the_budget(
    db: Database,
    session: AsyncSession,
    clock: Clock,
    fake_x: FakeX,
    x_source: XSource,
    settings: Settings,
    summarizers: Summarizers,
    *,
    action: str,
) -> tuple[User, Job]:
    fake_x.add_posts(fake_x.add_user("alice"), 5, start=T0 - timedelta(minutes=30))
    owner = await owner_with_budget(session, action=action)
    job = await make_job(session, owner=owner, now=clock())
    await session.commit()

    [run_id] = await run_due(db, clock, x_source, settings, summarizers)

    run = await session.get(JobExecution, run_id, populate_existing=True)
    assert run is not None and run.status == ExecutionStatus.COMPLETED.value, run and run.error_message
    assert run.posts_read == 5 and run.source_cost_usd == pytest.approx(0.025)
    assert await budget_deliveries(session, owner) == ["budget_warning", "budget_reached"]
    return owner, job


async def test_a_spent_budget_set_to_offline_summarizes_offline_and_notices_go_once(
    db: Database,
    session: AsyncSession,
    clock: Clock,
    fake_x: tuple[FakeX, str],
    fake_llm: tuple[FakeLLM, str],
    x_source: XSource,
    settings: Settings,
    summarizers: Summarizers,
) -> None:
    settings = run_settings(settings)
    owner, _job = await first_run_spends_the_budget(
        db, session, clock, fake_x[0], x_source, settings, summarizers, action="offline"
    )
    assert len(fake_llm[0].requests) == 1  # the first run, under budget when it started, used the LLM

    fake_x[0].add_posts(fake_x[0].users["alice"], 4, start=clock() + timedelta(minutes=5))
    clock.advance(timedelta(hours=1))
    [second] = await run_due(db, clock, x_source, settings, summarizers)

    summary = await session.scalar(select(Summary).where(Summary.execution_id == second))
    assert summary is not None and summary.tweets_count == 4
    assert (summary.raw_data or {}).get("offline") == "budget"
    assert summary.model == "extractive" and summary.input_tokens == 0 and summary.cost == 0
    assert len(fake_llm[0].requests) == 1  # no LLM request for the second run
    assert await budget_deliveries(session, owner) == ["budget_warning", "budget_reached"]  # once each


async def test_a_spent_budget_set_to_pause_cancels_the_next_slot_and_refuses_manual_runs(
    db: Database,
    session: AsyncSession,
    client: httpx.AsyncClient,
    clock: Clock,
    fake_x: tuple[FakeX, str],
    x_source: XSource,
    settings: Settings,
    summarizers: Summarizers,
) -> None:
    settings = run_settings(settings)
    owner, job = await first_run_spends_the_budget(
        db, session, clock, fake_x[0], x_source, settings, summarizers, action="pause"
    )
    timeline_calls = fake_x[0].count("/tweets")
    clock.advance(timedelta(hours=1))

    [skipped] = await run_due(db, clock, x_source, settings, summarizers)

    run = await session.get(JobExecution, skipped, populate_existing=True)
    assert run is not None and run.status == ExecutionStatus.CANCELLED.value
    assert run.error_kind == "budget_exhausted"
    assert "$0.02" in (run.error_message or "") and f"resets on {RESETS}" in (run.error_message or "")
    assert fake_x[0].count("/tweets") == timeline_calls  # not fetched
    headers = await auth_headers(session, owner)
    await session.commit()
    refused = await client.post(f"/api/v1/jobs/{job.id}/run", headers=headers)
    assert refused.status_code == 409
    assert "monthly budget of $0.02" in refused.json()["detail"]
    assert f"resets on {RESETS}" in refused.json()["detail"]
    playground = await client.post(
        "/api/v1/playground/runs", headers=headers, json={"x_username": "alice", "topics": ["ai"]}
    )
    assert playground.status_code == 409 and "monthly budget of $0.02" in playground.json()["detail"]


async def test_a_run_with_two_new_posts_makes_no_llm_call(
    db: Database,
    session: AsyncSession,
    clock: Clock,
    fake_x: tuple[FakeX, str],
    fake_llm: tuple[FakeLLM, str],
    x_source: XSource,
    settings: Settings,
    summarizers: Summarizers,
) -> None:
    fake_x[0].add_posts(fake_x[0].add_user("alice"), 2, start=T0 - timedelta(minutes=30))
    await make_job(session, now=clock())
    await session.commit()

    [run_id] = await run_due(db, clock, x_source, run_settings(settings), summarizers)

    summary = await session.scalar(select(Summary).where(Summary.execution_id == run_id))
    assert summary is not None and summary.tweets_count == 2
    assert summary.model == "extractive" and summary.output_tokens == 0
    assert (summary.raw_data or {}).get("offline") == "few_posts"
    assert fake_llm[0].requests == []


async def test_playground_spend_sends_the_budget_notices_once_as_a_jobs_does(
    db: Database,
    session: AsyncSession,
    clock: Clock,
    fake_x: tuple[FakeX, str],
    x_source: XSource,
    settings: Settings,
    summarizers: Summarizers,
) -> None:
    settings = run_settings(settings)
    fake_x[0].add_posts(fake_x[0].add_user("alice"), 5, start=T0 - timedelta(minutes=30))
    owner = await owner_with_budget(session, action="offline")
    tried = await queue_playground_run(session, owner, now=clock())

    await run_execution(
        tried.id,
        now=clock,
        database=db,
        settings=settings,
        source=x_source,
        summarizer=summarizers,
        heartbeats=Heartbeats(auto_start=False),
        hooks=RunNotifications(settings),
    )

    run = await session.get(JobExecution, tried.id, populate_existing=True)
    assert run is not None and run.status == ExecutionStatus.COMPLETED.value, run and run.error_message
    assert run.job_id is None and run.source_cost_usd == pytest.approx(0.025)
    # The playground's $0.025 is the month's spend: past 80 % and 100 % of $0.02 at once.
    assert await budget_deliveries(session, owner) == ["budget_warning", "budget_reached"]
    usage = await budgets.for_user(session, user=owner, settings=settings, now=clock())
    llm = await session.scalar(select(Summary.cost).where(Summary.execution_id == tried.id))
    assert usage.spent_usd == pytest.approx(0.025 + (llm or 0.0)) and usage.reached

    # A job run later in the month adds to the same month: no notice goes out twice.
    fake_x[0].add_posts(fake_x[0].users["alice"], 4, start=clock() + timedelta(minutes=5))
    clock.advance(timedelta(hours=1))
    await make_job(session, owner=owner, now=clock())
    await session.commit()
    [job_run] = await run_due(db, clock, x_source, settings, summarizers)
    finished = await session.get(JobExecution, job_run, populate_existing=True)
    assert finished is not None and finished.status == ExecutionStatus.COMPLETED.value
    assert await budget_deliveries(session, owner) == ["budget_warning", "budget_reached"]


async def test_a_playground_run_past_80_percent_sends_the_warning_only(
    db: Database,
    session: AsyncSession,
    clock: Clock,
    fake_x: tuple[FakeX, str],
    x_source: XSource,
    settings: Settings,
    summarizers: Summarizers,
) -> None:
    settings = run_settings(settings)
    fake_x[0].add_posts(fake_x[0].add_user("alice"), 3, start=T0 - timedelta(minutes=30))
    owner = await owner_with_budget(session, action="offline")
    owner.monthly_budget_usd = 0.018  # 3 posts: $0.015, 83 %: the warning only
    tried = await queue_playground_run(session, owner, now=clock())

    await run_execution(
        tried.id,
        now=clock,
        database=db,
        settings=settings,
        source=x_source,
        summarizer=summarizers,
        heartbeats=Heartbeats(auto_start=False),
        hooks=RunNotifications(settings),
    )

    assert await budget_deliveries(session, owner) == ["budget_warning"]


async def test_a_run_whose_owner_has_no_budget_reads_the_owner_only_in_its_claim(
    db: Database,
    session: AsyncSession,
    clock: Clock,
    fake_x: tuple[FakeX, str],
    x_source: XSource,
    settings: Settings,
    summarizers: Summarizers,
) -> None:
    settings = run_settings(settings)
    fake_x[0].add_posts(fake_x[0].add_user("alice"), 3, start=T0 - timedelta(minutes=30))
    owner = await make_user(session)  # no budget: no spend to sum, no notice that could be due
    tried = await queue_playground_run(session, owner, now=clock())
    user_reads: list[str] = []

    def watch(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if " users" in statement:
            user_reads.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", watch)
    try:
        await run_execution(
            tried.id,
            now=clock,
            database=db,
            settings=settings,
            source=x_source,
            summarizer=summarizers,
            heartbeats=Heartbeats(auto_start=False),
            hooks=RunNotifications(settings),
        )
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", watch)
    run = await session.get(JobExecution, tried.id, populate_existing=True)
    assert run is not None and run.status == ExecutionStatus.COMPLETED.value, run and run.error_message
    assert len(user_reads) == 1 and "JOIN users" in user_reads[0]  # the claim's read, nothing after it
    assert await budget_deliveries(session, owner) == []
