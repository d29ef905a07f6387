from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import make_job, make_user
from tests.executions.fakes import Clock, FakeSource, ScriptedSummarizer
from tests.fakes.server import serve_app
from tests.summarize.conftest import llm_settings
from tests.summarize.fakes import FakeLLM, openai_reply
from xtrack.config import Settings
from xtrack.db import Database
from xtrack.executions import dispatcher, reaper
from xtrack.executions import service as executions_service
from xtrack.executions.heartbeat import Heartbeats
from xtrack.executions.models import ErrorKind, ExecutionStatus, JobExecution, Trigger
from xtrack.executions.runner import run_execution
from xtrack.jobs import service as jobs_service
from xtrack.jobs.models import Job
from xtrack.playground import service as playground_service
from xtrack.sources.base import AccountNotFound, AccountUnavailable, SourceRateLimited
from xtrack.summaries.models import Summary
from xtrack.summarize.base import SummarizeError, Summarizer
from xtrack.summarize.registry import Summarizers
from xtrack.users.models import UserStatus

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def source(clock: Clock) -> FakeSource:
    return FakeSource(clock)


class Harness:
    """Runs executions with the fake source, the test's clock and no background heartbeats."""

    def __init__(
        self, db: Database, session: AsyncSession, clock: Clock, source: FakeSource, settings: Settings
    ):
        self.db = db
        self.session = session
        self.clock = clock
        self.source = source
        self.settings = settings
        self.heartbeats = Heartbeats(auto_start=False)

    async def run(self, execution_id: int, summarizer: Summarizer | None = None, **settings: object) -> None:
        await run_execution(
            execution_id,
            now=self.clock,
            database=self.db,
            settings=self.settings.model_copy(update=settings) if settings else self.settings,
            source=self.source,
            summarizer=summarizer,
            heartbeats=self.heartbeats,
        )

    async def dispatch(self) -> list[int]:
        return (await dispatcher.tick(self.db, now=self.clock())).dispatched

    async def execution(self, execution_id: int) -> JobExecution:
        row = await self.session.get(JobExecution, execution_id, populate_existing=True)
        assert row is not None
        return row

    async def job(self, job_id: int) -> Job:
        row = await self.session.get(Job, job_id, populate_existing=True)
        assert row is not None
        return row

    async def summaries(self) -> list[Summary]:
        return list(await self.session.scalars(select(Summary).order_by(Summary.id)))


@pytest.fixture
def harness(
    db: Database, session: AsyncSession, clock: Clock, source: FakeSource, settings: Settings
) -> Harness:
    return Harness(db, session, clock, source, settings)


async def _due_job(harness: Harness, **kwargs: object) -> Job:
    job = await make_job(harness.session, now=harness.clock(), **kwargs)  # type: ignore[arg-type]
    await harness.session.commit()
    return job


async def test_first_run_summarizes_the_last_24_hours_and_moves_the_cursor(harness: Harness) -> None:
    job = await _due_job(harness, frequency=60, topics=["ai"])
    too_old = harness.source.publish(T0 - timedelta(hours=30))
    recent = [harness.source.publish(T0 - timedelta(hours=h)) for h in (20, 5, 1)]
    [execution_id] = await harness.dispatch()
    harness.clock.advance(timedelta(minutes=1))

    await harness.run(execution_id)

    execution = await harness.execution(execution_id)
    assert execution.status == ExecutionStatus.COMPLETED.value, execution.error_message
    assert execution.tweets_fetched == 3 and execution.error_kind is None
    assert execution.started_at == execution.completed_at == T0 + timedelta(minutes=1)
    assert execution.covered_from == T0 + timedelta(minutes=1) - timedelta(hours=24)
    assert execution.covered_to == T0 + timedelta(minutes=1)
    assert execution.params["hours_back"] == 24 and execution.params["topics"] == ["ai"]
    [summary] = await harness.summaries()
    assert (
        summary.execution_id == execution_id and summary.job_id == job.id and summary.user_id == job.user_id
    )
    assert summary.raw_data is not None
    assert summary.raw_data["post_ids"] == [p.external_id for p in recent]
    assert too_old.external_id not in summary.raw_data["post_ids"]
    assert summary.tweets_count == 3 and summary.is_playground is False and summary.x_username == "alice"
    refreshed = await harness.job(job.id)
    assert refreshed.last_post_id == recent[-1].external_id
    assert refreshed.last_run == T0 + timedelta(minutes=1)


async def test_a_german_job_on_the_offline_summarizer_gets_a_german_headline(harness: Harness) -> None:
    await _due_job(harness, topics=["ai"], language="de")
    for hours in (3, 2, 1):
        harness.source.publish(T0 - timedelta(hours=hours))
    [execution_id] = await harness.dispatch()

    await harness.run(execution_id)  # no summarizer given: the offline (extractive) one

    [summary] = await harness.summaries()
    assert summary.model == "extractive" and summary.raw_data is not None
    assert summary.raw_data["headline"].startswith("@alice · Neue Beiträge: 3 · Themen (ai): ")
    assert summary.content.startswith("## @alice · Neue Beiträge: 3")
    assert summary.raw_data["language"] == "de"


async def test_a_german_job_on_an_llm_summarizer_asks_the_llm_for_german(harness: Harness) -> None:
    await _due_job(harness, topics=["ai"], language="de")
    for hours in (3, 2, 1):
        harness.source.publish(T0 - timedelta(hours=hours))
    [execution_id] = await harness.dispatch()
    llm = FakeLLM("/v1/chat/completions", openai_reply)

    with serve_app(llm.app) as base_url:
        summarizers = Summarizers(llm_settings("openai", f"{base_url}/v1"))
        try:
            await harness.run(execution_id, summarizers, llm_min_posts=1)
        finally:
            await summarizers.aclose()

    [request] = llm.requests
    assert "Write in German, whatever the language of the posts." in request.system
    assert "Write in English" not in request.system


async def test_later_runs_take_only_posts_newer_than_the_cursor(harness: Harness) -> None:
    job = await _due_job(harness)
    first = harness.source.publish(T0 - timedelta(hours=1))
    [e1] = await harness.dispatch()
    await harness.run(e1)
    harness.clock.advance(timedelta(minutes=30))
    newer = harness.source.publish(harness.clock() - timedelta(minutes=5))
    run = await executions_service.run_now(
        harness.session, owner_id=job.user_id, job_id=job.id, now=harness.clock(), executor=None
    )
    await harness.session.commit()
    harness.clock.advance(timedelta(seconds=1))
    await harness.run(run.id)
    summaries = await harness.summaries()
    assert [s.raw_data["post_ids"] for s in summaries if s.raw_data] == [
        [first.external_id],
        [newer.external_id],
    ]
    second = await harness.execution(run.id)
    assert second.trigger == Trigger.MANUAL.value and "hours_back" not in second.params
    assert (await harness.job(job.id)).last_post_id == newer.external_id


async def test_zero_new_posts_completes_without_a_summary(harness: Harness) -> None:
    job = await _due_job(harness)
    [execution_id] = await harness.dispatch()
    await harness.run(execution_id)
    execution = await harness.execution(execution_id)
    assert execution.status == ExecutionStatus.COMPLETED.value and execution.tweets_fetched == 0
    assert await harness.summaries() == []
    refreshed = await harness.job(job.id)
    assert refreshed.last_post_id is None and refreshed.last_run == T0


async def test_catch_up_after_ten_missed_intervals_is_one_run_covering_every_post(harness: Harness) -> None:
    job = await _due_job(harness, frequency=60)
    harness.source.publish(T0 - timedelta(hours=2))
    [first] = await harness.dispatch()
    await harness.run(first)
    # The scheduler is down for ten intervals while the account keeps posting.
    meanwhile = [
        harness.source.publish(T0 + timedelta(hours=hour, minutes=minute))
        for hour in range(10)
        for minute in (10, 40)
    ]
    harness.clock.advance(timedelta(hours=10, minutes=30))

    dispatched = await harness.dispatch()

    assert len(dispatched) == 1
    catch_up = await harness.execution(dispatched[0])
    assert catch_up.scheduled_for == T0 + timedelta(hours=10)
    assert (await harness.job(job.id)).next_run_at == T0 + timedelta(hours=11)
    await harness.run(catch_up.id)
    catch_up = await harness.execution(catch_up.id)
    assert catch_up.status == ExecutionStatus.COMPLETED.value and catch_up.tweets_fetched == 20
    last = (await harness.summaries())[-1]
    assert last.raw_data is not None and last.raw_data["post_ids"] == [p.external_id for p in meanwhile]
    assert await harness.dispatch() == []


async def test_a_lost_run_is_reaped_and_completed_by_a_later_attempt_exactly_once(harness: Harness) -> None:
    job = await _due_job(harness)
    posts = [harness.source.publish(T0 - timedelta(minutes=m)) for m in (50, 20)]
    [execution_id] = await harness.dispatch()
    gate = asyncio.Event()
    stuck = ScriptedSummarizer(gate=gate)
    zombie = asyncio.create_task(harness.run(execution_id, stuck))
    await asyncio.wait_for(stuck.entered.wait(), 10)
    assert (await harness.execution(execution_id)).status == ExecutionStatus.RUNNING.value

    # Its heartbeat stops; a lease (1 s here) later the reaper hands it back.
    harness.clock.advance(timedelta(seconds=2))
    reaped = await reaper.reap(harness.db, now=harness.clock(), lease_seconds=1, max_attempts=5)
    assert reaped.requeued == [execution_id] and reaped.failed == []
    requeued = await harness.execution(execution_id)
    assert requeued.status == ExecutionStatus.QUEUED.value and requeued.attempt == 2
    assert requeued.error_kind == ErrorKind.WORKER_LOST.value and "stopped responding" in (
        requeued.error_message or ""
    )
    tick = await dispatcher.tick(harness.db, now=harness.clock(), lease_seconds=1)
    assert tick.redelivered == [execution_id]

    await harness.run(execution_id, ScriptedSummarizer())
    gate.set()
    await asyncio.wait_for(zombie, 10)  # the old attempt wakes up and finds the run is not its own

    done = await harness.execution(execution_id)
    assert done.status == ExecutionStatus.COMPLETED.value and done.attempt == 2 and done.error_kind is None
    [summary] = await harness.summaries()
    assert summary.raw_data is not None and summary.raw_data["post_ids"] == [p.external_id for p in posts]
    assert (await harness.job(job.id)).last_post_id == posts[-1].external_id


async def test_reaper_fails_a_lost_run_out_of_attempts(harness: Harness) -> None:
    job = await _due_job(harness)
    lost = JobExecution(
        job_id=job.id,
        user_id=job.user_id,
        status="RUNNING",
        trigger="SCHEDULED",
        attempt=3,
        started_at=T0 - timedelta(minutes=5),
        heartbeat_at=T0 - timedelta(minutes=2),
    )
    alive = JobExecution(
        user_id=job.user_id, status="RUNNING", trigger="PLAYGROUND", started_at=T0, heartbeat_at=T0
    )
    harness.session.add_all([lost, alive])
    await harness.session.commit()
    result = await reaper.reap(harness.db, now=T0 + timedelta(seconds=30), lease_seconds=60, max_attempts=3)
    assert result.failed == [lost.id] and result.requeued == []
    failed = await harness.execution(lost.id)
    assert failed.status == ExecutionStatus.FAILED.value and failed.completed_at == T0 + timedelta(seconds=30)
    assert failed.error_kind == ErrorKind.WORKER_LOST.value and "out of attempts" in (
        failed.error_message or ""
    )
    assert (await harness.execution(alive.id)).status == ExecutionStatus.RUNNING.value


async def test_llm_failure_keeps_the_cursor_and_the_run_that_succeeds_summarizes_those_posts(
    harness: Harness,
) -> None:
    job = await _due_job(harness)
    early = [harness.source.publish(T0 - timedelta(minutes=m)) for m in (40, 30)]
    [execution_id] = await harness.dispatch()
    summarizer = ScriptedSummarizer(*(SummarizeError("provider answered HTTP 500") for _ in range(2)))

    await harness.run(execution_id, summarizer, max_attempts=2)
    retrying = await harness.execution(execution_id)
    assert retrying.status == ExecutionStatus.QUEUED.value and retrying.attempt == 2
    assert retrying.error_kind == ErrorKind.LLM.value and "HTTP 500" in (retrying.error_message or "")
    assert retrying.not_before is not None and retrying.not_before > harness.clock()
    assert (await harness.job(job.id)).last_post_id is None

    await harness.run(execution_id, summarizer, max_attempts=2)  # too early: the back-off is respected
    assert len(summarizer.requests) == 1
    harness.clock.now = retrying.not_before
    await harness.run(execution_id, summarizer, max_attempts=2)
    failed = await harness.execution(execution_id)
    assert failed.status == ExecutionStatus.FAILED.value and failed.error_kind == ErrorKind.LLM.value
    assert failed.completed_at is not None and failed.attempt == 2
    assert (await harness.job(job.id)).last_post_id is None and await harness.summaries() == []

    later = harness.source.publish(harness.clock() - timedelta(seconds=1))
    harness.clock.advance(timedelta(minutes=1))
    retry = await executions_service.retry(
        harness.session,
        owner_id=job.user_id,
        execution_id=execution_id,
        now=harness.clock(),
        executor=None,
    )
    await harness.session.commit()
    assert retry.retry_of_id == execution_id and retry.trigger == Trigger.MANUAL.value
    await harness.run(retry.id, summarizer)
    assert (await harness.execution(retry.id)).status == ExecutionStatus.COMPLETED.value
    [summary] = await harness.summaries()
    assert summary.raw_data is not None
    assert summary.raw_data["post_ids"] == [p.external_id for p in [*early, later]]
    assert (await harness.job(job.id)).last_post_id == later.external_id


@pytest.mark.parametrize(
    ("error", "kind", "status"),
    [
        (AccountNotFound("@alice does not exist"), "source_not_found", ExecutionStatus.FAILED),
        (
            AccountUnavailable("@alice is protected", state="protected"),
            "source_unavailable",
            ExecutionStatus.FAILED,
        ),
        (
            SourceRateLimited("429 from X", reset_at=T0 + timedelta(minutes=15)),
            "rate_limited",
            ExecutionStatus.QUEUED,
        ),
    ],
)
async def test_source_errors_become_error_kinds(
    harness: Harness, error: Exception, kind: str, status: ExecutionStatus
) -> None:
    job = await _due_job(harness)
    harness.source.errors.append(error)  # type: ignore[arg-type]
    [execution_id] = await harness.dispatch()
    await harness.run(execution_id)
    execution = await harness.execution(execution_id)
    assert execution.status == status.value and execution.error_kind == kind
    assert execution.error_message and str(error.args[0]) in execution.error_message
    if status is ExecutionStatus.QUEUED:
        # A rate limit waits for the source's reset, and no run reports "0 posts" meanwhile.
        assert execution.not_before == T0 + timedelta(minutes=15) and execution.attempt == 2
        assert execution.tweets_fetched == 0 and execution.completed_at is None
    else:
        assert execution.attempt == 1 and execution.completed_at == T0
    assert (await harness.job(job.id)).last_post_id is None


async def test_an_unexpected_error_is_internal_and_readable(harness: Harness) -> None:
    await _due_job(harness)
    harness.source.publish(T0 - timedelta(minutes=5))

    class Broken:
        name = "broken"

        async def summarize(self, request: object) -> object:
            raise RuntimeError("boom")

        async def aclose(self) -> None:
            return None

    [execution_id] = await harness.dispatch()
    await harness.run(execution_id, Broken())  # type: ignore[arg-type]
    execution = await harness.execution(execution_id)
    assert execution.status == ExecutionStatus.FAILED.value and execution.error_kind == "internal"
    assert execution.error_message == "Internal error (RuntimeError)."


async def test_queued_work_of_paused_jobs_and_suspended_owners_is_cancelled_when_picked_up(
    harness: Harness,
) -> None:
    paused = await _due_job(harness, x_username="paused")
    owner = await make_user(harness.session)
    suspended = await _due_job(harness, x_username="gone", owner=owner)
    ids = await harness.dispatch()
    (await harness.job(paused.id)).is_active = False
    owner.status = UserStatus.SUSPENDED.value
    await harness.session.commit()
    for execution_id in ids:
        await harness.run(execution_id)
    executions = [await harness.execution(i) for i in ids]
    assert {e.status for e in executions} == {ExecutionStatus.CANCELLED.value}
    assert {e.job_id for e in executions} == {paused.id, suspended.id}
    assert harness.source.fetches == 0


async def test_runs_are_idempotent_and_a_missing_row_is_ignored(harness: Harness) -> None:
    await _due_job(harness)
    harness.source.publish(T0 - timedelta(minutes=5))
    [execution_id] = await harness.dispatch()
    await harness.run(execution_id)
    await harness.run(execution_id)
    assert len(await harness.summaries()) == 1
    await harness.run(10**9)  # no such execution: nothing happens


async def test_a_job_deleted_mid_run_stops_quietly(harness: Harness) -> None:
    job = await _due_job(harness)
    harness.source.publish(T0 - timedelta(minutes=5))
    [execution_id] = await harness.dispatch()
    gate = asyncio.Event()
    summarizer = ScriptedSummarizer(gate=gate)
    task = asyncio.create_task(harness.run(execution_id, summarizer))
    await asyncio.wait_for(summarizer.entered.wait(), 10)
    await jobs_service.delete_for_owner(harness.session, owner_id=job.user_id, job_id=job.id)
    await harness.session.commit()
    gate.set()
    await asyncio.wait_for(task, 10)
    assert await harness.session.get(JobExecution, execution_id, populate_existing=True) is None
    assert await harness.session.scalar(select(func.count()).select_from(Summary)) == 0


async def test_playground_runs_use_their_params(harness: Harness) -> None:
    user = await make_user(harness.session)
    inside = harness.source.publish(T0 - timedelta(hours=2))
    harness.source.publish(T0 - timedelta(hours=7))
    execution = await playground_service.create_execution(
        harness.session,
        user_id=user.id,
        x_username="alice",
        topics=["chips"],
        hours_back=6,
        language="de",
        now=T0,
        executor=None,
    )
    await harness.session.commit()
    summarizer = ScriptedSummarizer()
    await harness.run(execution.id, summarizer)
    done = await harness.execution(execution.id)
    assert done.status == ExecutionStatus.COMPLETED.value and done.job_id is None and done.tweets_fetched == 1
    assert done.params == {"x_username": "alice", "topics": ["chips"], "language": "de", "hours_back": 6}
    [summary] = await harness.summaries()
    assert summary.is_playground and summary.hours_back == 6 and summary.job_id is None
    assert summary.user_id == user.id and summary.topics == ["chips"]
    assert summary.raw_data is not None and summary.raw_data["post_ids"] == [inside.external_id]
    assert summarizer.requests[0].language == "de"


async def test_heartbeats_are_one_batched_update(harness: Harness) -> None:
    job_a = await _due_job(harness, x_username="a")
    job_b = await _due_job(harness, x_username="b")
    rows = [
        JobExecution(job_id=job.id, user_id=job.user_id, status=status, trigger="MANUAL", heartbeat_at=T0)
        for job, status in ((job_a, "RUNNING"), (job_b, "RUNNING"))
    ]
    finished = JobExecution(user_id=job_a.user_id, status="COMPLETED", trigger="PLAYGROUND", heartbeat_at=T0)
    harness.session.add_all([*rows, finished])
    await harness.session.commit()
    heartbeats = Heartbeats(auto_start=False)
    for row in [*rows, finished]:
        heartbeats.add(row.id, harness.db)
    later = T0 + timedelta(seconds=20)
    assert await heartbeats.beat(now=later) == 2
    assert [(await harness.execution(r.id)).heartbeat_at for r in rows] == [later, later]
    assert (await harness.execution(finished.id)).heartbeat_at == T0
    heartbeats.discard(rows[0].id)
    assert heartbeats.running == {rows[1].id, finished.id}
    await harness.session.execute(delete(JobExecution).where(JobExecution.id == finished.id))
