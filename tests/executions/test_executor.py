from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import make_job, wait_until
from tests.executions.conftest import RecordingExecutor
from tests.executions.fakes import Clock, FakeSource, ScriptedSummarizer
from xtrack.config import Settings
from xtrack.db import Database
from xtrack.executions import dispatcher
from xtrack.executions.executors.local import LocalExecutor
from xtrack.executions.heartbeat import Heartbeats
from xtrack.executions.models import ExecutionStatus, JobExecution
from xtrack.executions.runner import run_execution
from xtrack.runtime import Runtime, SchedulerLoop

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


async def test_local_executor_limits_concurrency_and_ignores_duplicates() -> None:
    running = 0
    peak = 0
    ran: list[int] = []

    async def run(execution_id: int) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        ran.append(execution_id)
        running -= 1

    executor = LocalExecutor(concurrency=3, run=run)
    await executor.start()
    await executor.submit(list(range(10)))
    await executor.submit([0, 1, 2])  # already waiting or running here: ignored
    await asyncio.wait_for(executor.wait_idle(), 5)
    assert sorted(ran) == list(range(10)) and peak == 3
    await executor.stop(grace_seconds=1)


async def test_a_failing_run_does_not_stop_the_executor() -> None:
    ran: list[int] = []

    async def run(execution_id: int) -> None:
        if execution_id == 1:
            raise RuntimeError("bug")
        ran.append(execution_id)

    executor = LocalExecutor(concurrency=1, run=run)
    await executor.submit([1, 2])
    await asyncio.wait_for(executor.wait_idle(), 5)
    assert ran == [2] and executor.in_flight == 0


async def test_graceful_stop_finishes_quick_runs_and_releases_slow_ones(
    db: Database, session: AsyncSession, settings: Settings
) -> None:
    clock = Clock(T0)
    source = FakeSource(clock)
    source.publish(T0 - timedelta(minutes=3))
    quick = await make_job(session, x_username="quick", now=T0)
    slow = await make_job(session, x_username="slow", now=T0)
    await session.commit()
    ids = (await dispatcher.tick(db, now=T0)).dispatched
    by_job = {}
    for execution_id in ids:
        row = await session.get(JobExecution, execution_id)
        assert row is not None
        by_job[row.job_id] = execution_id
    gate = asyncio.Event()
    blocked = ScriptedSummarizer(gate=gate)

    async def run(execution_id: int) -> None:
        summarizer = blocked if execution_id == by_job[slow.id] else ScriptedSummarizer()
        await run_execution(
            execution_id,
            now=clock,
            database=db,
            settings=settings,
            source=source,
            summarizer=summarizer,
            heartbeats=Heartbeats(auto_start=False),
        )

    # One at a time: the test's sessions share one connection.
    executor = LocalExecutor(concurrency=1, run=run, database=db)
    await executor.submit([by_job[quick.id], by_job[slow.id]])
    await asyncio.wait_for(blocked.entered.wait(), 10)
    await executor.stop(grace_seconds=0.05)

    finished = await session.get(JobExecution, by_job[quick.id], populate_existing=True)
    released = await session.get(JobExecution, by_job[slow.id], populate_existing=True)
    assert finished is not None and finished.status == ExecutionStatus.COMPLETED.value
    assert released is not None and released.status == ExecutionStatus.QUEUED.value
    assert released.attempt == 1 and released.queued_at is None  # the next tick hands it out again
    assert (await dispatcher.tick(db, now=T0)).redelivered == [released.id]
    await executor.submit([released.id])  # a stopped executor takes nothing
    assert executor.in_flight == 0


async def test_stop_releases_ids_still_waiting(db: Database, session: AsyncSession) -> None:
    jobs = [await make_job(session, x_username=f"u{i}", now=T0) for i in range(3)]
    await session.commit()
    ids = (await dispatcher.tick(db, now=T0)).dispatched
    assert len(ids) == len(jobs)
    gate = asyncio.Event()
    started: list[int] = []

    async def run(execution_id: int) -> None:
        started.append(execution_id)
        await gate.wait()

    executor = LocalExecutor(concurrency=1, run=run, database=db)
    await executor.submit(ids)

    async def first_started() -> bool:
        return bool(started)

    await wait_until(first_started, timeout=10, what="the first run to start", interval=0.01)
    await executor.stop(grace_seconds=0.01)
    assert started == ids[:1]
    for execution_id in ids[1:]:
        row = await session.get(JobExecution, execution_id, populate_existing=True)
        assert row is not None and row.status == ExecutionStatus.QUEUED.value and row.queued_at is None


async def test_the_runtime_builds_the_executor_the_settings_name(db: Database, settings: Settings) -> None:
    configured = settings.model_copy(update={"executor": "local", "executor_concurrency": 7})
    scheduler = await Runtime.open(configured, database=db, scheduler=True)
    try:
        local = scheduler.executor
        assert isinstance(local, LocalExecutor) and local.concurrency == 7
    finally:
        await scheduler.close()
    web = await Runtime.open(configured, database=db)
    try:
        assert web.executor is None  # xtrack web with a local executor: the next tick hands runs out
    finally:
        await web.close()


async def test_scheduler_loop_reaps_then_dispatches_and_feeds_the_executor(
    db: Database, session: AsyncSession, settings: Settings
) -> None:
    job = await make_job(session, now=T0)
    lost = JobExecution(
        user_id=job.user_id,
        status="RUNNING",
        trigger="PLAYGROUND",
        started_at=T0 - timedelta(minutes=5),
        heartbeat_at=T0 - timedelta(minutes=5),
        params={"x_username": "bob", "hours_back": 1},
    )
    session.add(lost)
    await session.commit()
    executor = RecordingExecutor()
    loop = SchedulerLoop(db, settings.model_copy(update={"lease_seconds": 60}), executor, clock=lambda: T0)
    result = await loop.run_once()
    assert len(result.dispatched) == 1 and result.redelivered == [lost.id]
    assert sorted(executor.submitted) == sorted([*result.dispatched, lost.id])
    row = await session.get(JobExecution, lost.id, populate_existing=True)
    assert row is not None and row.status == "QUEUED" and row.attempt == 2 and row.error_kind == "worker_lost"


async def test_scheduler_loop_keeps_ticking_through_errors(settings: Settings) -> None:
    calls = 0

    class Flaky(SchedulerLoop):
        async def run_once(self) -> dispatcher.TickResult:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise RuntimeError("database hiccup")
            return dispatcher.TickResult()

    loop = Flaky(None, settings.model_copy(update={"scheduler_tick_seconds": 0.01}), RecordingExecutor())  # type: ignore[arg-type]
    await loop.start()
    for _ in range(200):
        if calls >= 3:
            break
        await asyncio.sleep(0.01)
    await loop.stop()
    assert calls >= 3


async def test_a_full_executor_leaves_the_overflow_to_the_scheduler(
    db: Database, session: AsyncSession
) -> None:
    jobs = [await make_job(session, x_username=f"u{i}", now=T0) for i in range(5)]
    await session.commit()
    ids = (await dispatcher.tick(db, now=T0)).dispatched
    gate = asyncio.Event()
    started: list[int] = []

    async def run(execution_id: int) -> None:
        started.append(execution_id)
        await gate.wait()

    executor = LocalExecutor(concurrency=1, run=run, database=db, max_waiting=1)
    await executor.submit(ids)

    assert executor.in_flight == 2  # one running, one waiting: the rest is not held here
    for execution_id in ids[2:]:
        row = await session.get(JobExecution, execution_id, populate_existing=True)
        assert row is not None and row.status == ExecutionStatus.QUEUED.value and row.queued_at is None
    assert len(jobs) == len(ids)
    gate.set()
    await asyncio.wait_for(executor.wait_idle(), 5)
    assert started == ids[:2]
    await executor.stop(grace_seconds=1)


async def test_a_burst_of_single_submits_starts_one_worker_per_id() -> None:
    gate = asyncio.Event()
    created = 0
    loop = asyncio.get_running_loop()
    factory = loop.get_task_factory()

    def counting(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        nonlocal created
        created += 1
        return asyncio.Task(coro, loop=loop, **kwargs)

    async def run(_execution_id: int) -> None:
        await gate.wait()

    loop.set_task_factory(counting)
    try:
        executor = LocalExecutor(concurrency=1000, run=run)
        for execution_id in range(50):
            await executor.submit([execution_id])
        assert created == 50 and executor.in_flight == 50
        gate.set()
        await asyncio.wait_for(executor.wait_idle(), 5)
        await executor.stop(grace_seconds=1)
    finally:
        loop.set_task_factory(factory)
