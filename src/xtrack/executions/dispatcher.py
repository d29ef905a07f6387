"""The dispatcher tick: turn due jobs into QUEUED executions and hand them (and stale QUEUED ones)
to the executor. Any number of schedulers may tick at once.

On PostgreSQL one statement does the work set-based: claim due jobs of ACTIVE owners
(``FOR UPDATE SKIP LOCKED``, so concurrent schedulers take disjoint jobs), compute each job's slot
(the latest grid slot not after ``now``: missed slots collapse into one), advance ``next_run_at`` to
the first future slot, and insert the executions with ``ON CONFLICT DO NOTHING`` against both
partial unique indexes (a slot already taken, or a job with a run still active, is skipped; that
run covers the posts). The slot arithmetic matches ``jobs.schedule.due_slot``, and the ``params``
snapshot matches ``inputs.job_inputs`` (tests check both).

SQLite has one writer at a time: the tick takes the write lock first, then does the same in Python.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, Integer, bindparam, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from xtrack.config import DEFAULT_LEASE_SECONDS
from xtrack.db import Database
from xtrack.executions.executors.base import Executor
from xtrack.executions.inputs import job_inputs
from xtrack.executions.models import ExecutionStatus, JobExecution, Trigger
from xtrack.jobs import schedule
from xtrack.jobs import service as jobs_service
from xtrack.jobs.models import Job
from xtrack.observability import get_logger
from xtrack.users.models import User, UserStatus

logger = get_logger("xtrack.dispatcher")

DEFAULT_BATCH = 100_000


@dataclass(slots=True)
class TickResult:
    dispatched: list[int] = field(default_factory=list)
    """New SCHEDULED executions."""
    redelivered: list[int] = field(default_factory=list)
    """QUEUED executions handed out again (retry time reached, or nobody picked them up)."""
    db_seconds: float = 0.0

    @property
    def execution_ids(self) -> list[int]:
        return [*self.dispatched, *self.redelivered]


_PG_DISPATCH = text(
    """
WITH due AS (
    SELECT j.id, j.user_id, j.frequency, j.next_run_at, j.x_username, j.topics, j.language, j.filters,
           (j.last_run IS NULL AND j.last_post_id IS NULL) AS first_run,
           floor(extract(epoch FROM (CAST(:now AS timestamptz) - j.next_run_at)) / (j.frequency * 60))
               AS missed
    FROM jobs AS j
    JOIN users AS u ON u.id = j.user_id
    WHERE j.next_run_at <= CAST(:now AS timestamptz) AND j.is_active AND u.status = 'ACTIVE'
      AND j.daily_at IS NULL
    ORDER BY j.next_run_at
    LIMIT :batch
    FOR UPDATE OF j SKIP LOCKED
),
slots AS (
    SELECT due.*, due.next_run_at + make_interval(mins => CAST(due.missed * due.frequency AS integer)) AS slot
    FROM due
),
advanced AS (
    UPDATE jobs SET next_run_at = slots.slot + make_interval(mins => slots.frequency)
    FROM slots
    WHERE jobs.id = slots.id
),
inserted AS (
    INSERT INTO job_executions (
        job_id, user_id, status, trigger, params, scheduled_for, created_at, queued_at,
        attempt, tweets_fetched, gap
    )
    SELECT id, user_id, 'QUEUED', 'SCHEDULED',
           jsonb_build_object('x_username', x_username, 'topics', topics, 'language', language)
           || CASE WHEN first_run
                   THEN jsonb_build_object(
                       'hours_back', CAST(ceil(greatest(1440, frequency) / 60.0) AS integer))
                   ELSE '{}'::jsonb END
           || CASE WHEN jsonb_typeof(filters) = 'object' AND filters <> '{}'::jsonb
                   THEN jsonb_build_object('filters', filters) ELSE '{}'::jsonb END
           || COALESCE((SELECT jsonb_build_object('accounts', jsonb_agg(ja.account ORDER BY ja.position))
                        FROM job_accounts AS ja WHERE ja.job_id = slots.id HAVING count(*) > 1), '{}'::jsonb),
           slot, CAST(:now AS timestamptz), CAST(:now AS timestamptz), 1, 0, false
    FROM slots
    ON CONFLICT DO NOTHING
    RETURNING id
)
SELECT id FROM inserted ORDER BY id
"""
).bindparams(bindparam("now", type_=DateTime(timezone=True)), bindparam("batch", type_=Integer))


def _redeliverable(now: datetime, stale_before: datetime) -> Any:
    """QUEUED rows to hand out again: a retry whose ``not_before`` has passed since it was queued,
    or a row nobody picked up within a lease (or never handed out: ``queued_at`` NULL)."""
    return (
        (JobExecution.status == ExecutionStatus.QUEUED.value)
        & or_(JobExecution.not_before.is_(None), JobExecution.not_before <= now)
        & or_(
            JobExecution.queued_at.is_(None),
            JobExecution.queued_at < stale_before,
            JobExecution.not_before.is_not(None) & (JobExecution.queued_at < JobExecution.not_before),
        )
    )


async def _redeliver(session: AsyncSession, *, now: datetime, lease_seconds: float, batch: int) -> list[int]:
    stale_before = now - timedelta(seconds=lease_seconds)
    candidates = (
        select(JobExecution.id)
        .where(_redeliverable(now, stale_before))
        .order_by(JobExecution.id)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    result = await session.execute(
        update(JobExecution)
        .where(JobExecution.id.in_(candidates.scalar_subquery()))
        .values(queued_at=now)
        .returning(JobExecution.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(result.scalars())


async def _dispatch_postgresql(session: AsyncSession, *, now: datetime, batch: int) -> list[int]:
    result = await session.execute(_PG_DISPATCH, {"now": now, "batch": batch})
    interval_ids = list(result.scalars())
    # Jobs at a local time (few: one run a day at most) take the Python path: zone rules in SQL
    # would duplicate ``schedule.next_daily_run``.
    daily = await _dispatch_rows(session, now=now, batch=batch, daily_only=True)
    return sorted(interval_ids + daily)


async def _dispatch_sqlite(session: AsyncSession, *, now: datetime, batch: int) -> list[int]:
    # Take SQLite's write lock before reading, so a concurrent writer cannot invalidate what we read.
    await session.execute(text("UPDATE jobs SET id = id WHERE 0"))
    return await _dispatch_rows(session, now=now, batch=batch, daily_only=False)


def _dispatch_of(row: Any, now: datetime) -> schedule.Dispatch | None:
    """The slot a due job runs now and its next run: on its interval grid, or (a daily job) the
    missed local time, once, and the next one after ``now``."""
    assert row.next_run_at is not None
    if row.daily_at is None:
        return schedule.due_slot(row.next_run_at, frequency_minutes=row.frequency, now=now)
    if row.next_run_at > now:
        return None
    upcoming = schedule.next_daily_run(
        now=now, daily_at=row.daily_at, days=row.days, timezone=row.timezone or "UTC"
    )
    return schedule.Dispatch(slot=row.next_run_at, next_run_at=upcoming)


async def _dispatch_rows(session: AsyncSession, *, now: datetime, batch: int, daily_only: bool) -> list[int]:
    """Due jobs read, planned in Python and written back: every due job on SQLite, the daily ones
    on PostgreSQL (locked with SKIP LOCKED there, so concurrent schedulers take disjoint jobs)."""
    query = (
        select(
            Job.id,
            Job.user_id,
            Job.frequency,
            Job.next_run_at,
            Job.x_username,
            Job.topics,
            Job.language,
            Job.last_run,
            Job.last_post_id,
            Job.filters,
            Job.daily_at,
            Job.days,
            Job.timezone,
        )
        .join(User, User.id == Job.user_id)
        .where(Job.next_run_at <= now, Job.is_active.is_(True), User.status == UserStatus.ACTIVE.value)
        .order_by(Job.next_run_at)
        .limit(batch)
    )
    if daily_only:
        query = query.where(Job.daily_at.is_not(None)).with_for_update(of=Job, skip_locked=True)
    due = (await session.execute(query)).all()
    if not due:
        return []
    accounts = await jobs_service.accounts_of(session, [row.id for row in due])
    advances: list[dict[str, Any]] = []
    executions: list[dict[str, Any]] = []
    for row in due:
        dispatch = _dispatch_of(row, now)
        if dispatch is None:
            continue
        advances.append({"id": row.id, "next_run_at": dispatch.next_run_at})
        executions.append(
            {
                "job_id": row.id,
                "user_id": row.user_id,
                "status": ExecutionStatus.QUEUED.value,
                "trigger": Trigger.SCHEDULED.value,
                "params": job_inputs(row, now=now, accounts=accounts[row.id]).params(),
                "scheduled_for": dispatch.slot,
                "created_at": now,
                "queued_at": now,
                "attempt": 1,
                "tweets_fetched": 0,
                "gap": False,
            }
        )
    if not advances:
        return []
    # ORM bulk UPDATE by primary key: one executemany.
    await session.execute(update(Job), advances)
    insert = postgresql_insert if daily_only else sqlite_insert
    statement = insert(JobExecution).on_conflict_do_nothing().returning(JobExecution.id)
    ids: list[int] = []
    for start in range(0, len(executions), 500):
        result = await session.execute(statement, executions[start : start + 500])
        ids.extend(result.scalars())
    return sorted(ids)


async def tick(
    database: Database,
    *,
    now: datetime,
    executor: Executor | None = None,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    batch_size: int = DEFAULT_BATCH,
) -> TickResult:
    """One scheduler tick: dispatch due jobs and re-hand stale QUEUED executions in one short
    transaction, then (after the commit) give every id to ``executor``."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    started = time.perf_counter()
    async with database.session() as session:
        if database.dialect == "postgresql":
            dispatched = await _dispatch_postgresql(session, now=now, batch=batch_size)
        else:
            dispatched = await _dispatch_sqlite(session, now=now, batch=batch_size)
        redelivered = await _redeliver(session, now=now, lease_seconds=lease_seconds, batch=batch_size)
    result = TickResult(
        dispatched=dispatched, redelivered=redelivered, db_seconds=time.perf_counter() - started
    )
    if dispatched or redelivered:
        logger.info(
            "dispatcher.tick",
            dispatched=len(dispatched),
            redelivered=len(redelivered),
            db_ms=round(result.db_seconds * 1000, 1),
        )
    if executor is not None and result.execution_ids:
        await executor.submit(result.execution_ids)
    return result
