from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import make_job, make_user
from tests.executions.conftest import RecordingExecutor
from xtrack.db import Database
from xtrack.executions import dispatcher
from xtrack.executions.inputs import job_inputs
from xtrack.executions.models import ExecutionStatus, JobExecution, Trigger
from xtrack.jobs import schedule
from xtrack.jobs.models import Job
from xtrack.users.models import UserStatus

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


async def _executions(session: AsyncSession, job_id: int | None = None) -> list[JobExecution]:
    query = select(JobExecution).order_by(JobExecution.id).execution_options(populate_existing=True)
    if job_id is not None:
        query = query.where(JobExecution.job_id == job_id)
    return list(await session.scalars(query))


async def test_tick_queues_one_execution_per_due_job_and_hands_them_out(
    db: Database, session: AsyncSession
) -> None:
    due = await make_job(session, x_username="due", frequency=60, topics=["ai", "chips"], now=NOW)
    later = await make_job(session, x_username="later", frequency=60, now=NOW + timedelta(minutes=1))
    await session.commit()
    executor = RecordingExecutor()

    result = await dispatcher.tick(db, now=NOW, executor=executor)

    [execution] = await _executions(session)
    assert result.dispatched == [execution.id] and executor.submitted == [execution.id]
    assert execution.job_id == due.id and execution.user_id == due.user_id
    assert execution.status == ExecutionStatus.QUEUED.value and execution.trigger == Trigger.SCHEDULED.value
    assert execution.scheduled_for == NOW and execution.queued_at == NOW and execution.attempt == 1
    assert execution.params == {
        "x_username": "due",
        "topics": ["ai", "chips"],
        "language": "en",
        "hours_back": 24,
    }
    await session.refresh(due)
    await session.refresh(later)
    assert due.next_run_at == NOW + timedelta(hours=1)
    assert later.next_run_at == NOW + timedelta(minutes=1)
    # The same instant again: nothing new.
    again = await dispatcher.tick(db, now=NOW, executor=executor)
    assert again.dispatched == [] and again.redelivered == []


async def test_missed_slots_collapse_into_one_catch_up_run(db: Database, session: AsyncSession) -> None:
    job = await make_job(session, frequency=60, now=NOW)
    job.last_post_id = "100"  # not a first run: no hours_back in the snapshot
    await session.commit()
    result = await dispatcher.tick(db, now=NOW + timedelta(hours=10, minutes=5))
    [execution] = await _executions(session)
    assert result.dispatched == [execution.id]
    assert execution.scheduled_for == NOW + timedelta(hours=10)
    assert "hours_back" not in execution.params
    await session.refresh(job)
    assert job.next_run_at == NOW + timedelta(hours=11)


async def test_paused_jobs_and_inactive_owners_are_not_dispatched(
    db: Database, session: AsyncSession
) -> None:
    paused = await make_job(session, x_username="paused", now=NOW)
    paused.is_active = False
    suspended_owner = await make_user(session, status=UserStatus.SUSPENDED)
    suspended = await make_job(session, owner=suspended_owner, x_username="suspended", now=NOW)
    unverified_owner = await make_user(session, status=UserStatus.UNVERIFIED)
    await make_job(session, owner=unverified_owner, x_username="unverified", now=NOW)
    await session.commit()
    result = await dispatcher.tick(db, now=NOW + timedelta(hours=3))
    assert result.dispatched == []
    assert await _executions(session) == []
    await session.refresh(suspended)
    assert suspended.next_run_at == NOW  # untouched: one catch-up run once the owner is active again


async def test_a_slot_finding_an_active_run_is_skipped_but_the_job_moves_on(
    db: Database, session: AsyncSession
) -> None:
    job = await make_job(session, frequency=30, now=NOW)
    running = JobExecution(
        job_id=job.id,
        user_id=job.user_id,
        status="RUNNING",
        trigger="MANUAL",
        started_at=NOW,
        heartbeat_at=NOW,
    )
    session.add(running)
    await session.commit()
    result = await dispatcher.tick(db, now=NOW + timedelta(minutes=1))
    assert result.dispatched == []
    assert [e.id for e in await _executions(session)] == [running.id]
    await session.refresh(job)
    assert job.next_run_at == NOW + timedelta(minutes=30)


async def test_the_params_snapshot_is_the_runs_inputs_on_both_databases(
    db: Database, session: AsyncSession
) -> None:
    """The dispatcher's ``params`` (SQL on PostgreSQL, Python on SQLite) equal
    ``inputs.job_inputs(job).params()``, which manual runs, retries and the claim use: a first run
    records its window, a job with a cursor does not, for every preset frequency."""
    owner = await make_user(session)
    jobs: list[Job] = []
    for i, frequency in enumerate([15, 60, 360, 1440, 2880, 10_080]):
        first = await make_job(
            session, owner=owner, x_username=f"first{i}", topics=["ai", "chips"], frequency=frequency, now=NOW
        )
        later = await make_job(session, owner=owner, x_username=f"later{i}", frequency=frequency, now=NOW)
        later.last_post_id = "100"
        later.last_run = NOW - timedelta(minutes=frequency)
        jobs += [first, later]
    await session.commit()
    await dispatcher.tick(db, now=NOW)
    params = {e.job_id: e.params for e in await _executions(session)}
    for job in jobs:
        await session.refresh(job)
        assert params[job.id] == job_inputs(job, now=NOW).params(), job.x_username
    assert sum("hours_back" in p for p in params.values()) == 6


async def test_sql_and_python_slot_arithmetic_agree(db: Database, session: AsyncSession) -> None:
    """The dispatcher's slot math (SQL on PostgreSQL) matches jobs.schedule.due_slot, including
    exact slot boundaries, microseconds and gaps of years."""
    rng = random.Random(20261125)
    owner = await make_user(session)
    cases: list[tuple[Job, datetime, int]] = []
    for i in range(60):
        frequency = rng.choice([15, 30, 60, 180, 360, 720, 1440, rng.randint(15, 43_200)])
        gap = rng.choice(
            [
                timedelta(0),
                timedelta(minutes=frequency * rng.randint(1, 50)),  # exactly on a slot
                timedelta(microseconds=rng.randint(1, 10**12)),
                timedelta(days=rng.randint(1, 3000), microseconds=rng.randint(0, 999_999)),
            ]
        )
        next_run_at = NOW - gap
        job = await make_job(session, owner=owner, x_username=f"u{i}", frequency=frequency, now=next_run_at)
        cases.append((job, next_run_at, frequency))
    await session.commit()
    await dispatcher.tick(db, now=NOW)
    slots = {e.job_id: e.scheduled_for for e in await _executions(session)}
    for job, next_run_at, frequency in cases:
        expected = schedule.due_slot(next_run_at, frequency_minutes=frequency, now=NOW)
        assert expected is not None
        await session.refresh(job)
        assert slots[job.id] == expected.slot, (next_run_at, frequency)
        assert job.next_run_at == expected.next_run_at, (next_run_at, frequency)


async def test_stale_and_retry_ready_queued_rows_are_handed_out_again_once(
    db: Database, session: AsyncSession
) -> None:
    job = await make_job(session, now=NOW + timedelta(days=1))
    other = await make_job(session, x_username="bob", now=NOW + timedelta(days=1))
    third = await make_job(session, x_username="carol", now=NOW + timedelta(days=1))
    fourth = await make_job(session, x_username="dave", now=NOW + timedelta(days=1))

    def queued(job_id: int, **kwargs: object) -> JobExecution:
        return JobExecution(job_id=job_id, user_id=job.user_id, status="QUEUED", trigger="MANUAL", **kwargs)

    stale = queued(job.id, queued_at=NOW - timedelta(seconds=61))
    retry_ready = queued(
        other.id, queued_at=NOW - timedelta(seconds=5), not_before=NOW - timedelta(seconds=1)
    )
    retry_waiting = queued(
        third.id, queued_at=NOW - timedelta(seconds=500), not_before=NOW + timedelta(seconds=30)
    )
    never_handed = queued(fourth.id, queued_at=None)
    session.add_all([stale, retry_ready, retry_waiting, never_handed])
    fresh_job = await make_job(session, x_username="erin", now=NOW + timedelta(days=1))
    fresh = queued(fresh_job.id, queued_at=NOW - timedelta(seconds=10))
    session.add(fresh)
    await session.commit()

    executor = RecordingExecutor()
    result = await dispatcher.tick(db, now=NOW, executor=executor, lease_seconds=60)
    assert sorted(result.redelivered) == sorted([stale.id, retry_ready.id, never_handed.id])
    assert sorted(executor.submitted) == sorted(result.redelivered)
    second = await dispatcher.tick(db, now=NOW + timedelta(seconds=1), lease_seconds=60)
    assert second.redelivered == []
    await session.refresh(stale)
    assert stale.queued_at == NOW
    # Once its back-off has passed, the waiting retry is handed out.
    later = await dispatcher.tick(db, now=NOW + timedelta(seconds=31), lease_seconds=60)
    assert later.redelivered == [retry_waiting.id]


async def test_tick_refuses_naive_time(db: Database) -> None:
    try:
        await dispatcher.tick(db, now=datetime(2026, 1, 1))
    except ValueError as exc:
        assert "timezone-aware" in str(exc)
    else:
        raise AssertionError("naive now accepted")


async def test_many_jobs_in_one_tick(db: Database, session: AsyncSession) -> None:
    owner = await make_user(session)
    for i in range(120):
        await make_job(session, owner=owner, x_username=f"user{i}", now=NOW - timedelta(minutes=i))
    await session.commit()
    result = await dispatcher.tick(db, now=NOW)
    assert len(result.dispatched) == 120 == len(set(result.dispatched))
    count = await session.scalar(select(func.count()).select_from(JobExecution))
    assert count == 120
    assert await session.scalar(select(func.count()).select_from(Job).where(Job.next_run_at <= NOW)) == 0
