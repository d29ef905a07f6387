"""Housekeeping: scheduler heartbeats (for ``/readyz``) and retention.

Retention (``XTRACK_RETENTION_DAYS``, ``XTRACK_POST_RETENTION_DAYS``,
``XTRACK_RETENTION_MAX_RUNS_PER_JOB``):

* Finished executions (COMPLETED, FAILED, CANCELLED) older than the retention are deleted, and so
  are a job's finished executions beyond its newest ``max_runs_per_job``. QUEUED and RUNNING rows
  are never touched. Summaries stay: their ``execution_id`` becomes NULL (ON DELETE SET NULL).
* Posts older than the post retention are deleted unless a job following the account still needs
  them: a job whose cursor (``last_post_id``) has not passed them, or a job that never ran and whose
  first run covers their time. The account's ``covered_since`` moves past the newest deleted post,
  so a later run that wants older posts backfills them from the source instead of trusting a hole.
* Deletes run in batches of short transactions, oldest first (the primary key order), so a large
  backlog never holds a long lock.

The scheduler loop prunes once a day: a row in ``maintenance_runs`` is a lease that only one
scheduler wins per day (a conditional UPDATE), so any number of schedulers may run. ``xtrack
maintenance prune`` runs the same function by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from xtrack.config import Settings
from xtrack.db import Database
from xtrack.executions.models import FINISHED_STATUSES, JobExecution
from xtrack.jobs import schedule
from xtrack.jobs.models import Job, JobAccount
from xtrack.observability import get_logger
from xtrack.ops.models import MaintenanceRun, SchedulerHeartbeat
from xtrack.posts.models import StoredPost, XAccount

logger = get_logger("xtrack.maintenance")

BATCH_SIZE = 5_000
PRUNE_TASK = "prune"
PRUNE_EVERY = timedelta(hours=23)  # "daily", with slack so the time of day does not creep
PRUNE_LEASE = timedelta(hours=1)  # a pruner that died frees the lease after this long
PRUNE_CHECK_SECONDS = 600.0  # how often a scheduler asks whether the daily prune is due
HEARTBEATS_KEPT = timedelta(days=1)
ONE_MICROSECOND = timedelta(microseconds=1)


def _insert(database: Database, table: Any) -> Any:
    return (postgresql if database.dialect == "postgresql" else sqlite).insert(table)


def _rowcount(result: Any) -> int:
    return int(cast(CursorResult[Any], result).rowcount or 0)


def new_instance_id() -> str:
    """``host:pid:random``: unique per scheduler process, readable in the admin view."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


# Heartbeats -------------------------------------------------------------------------------------


async def beat(database: Database, *, instance_id: str, now: datetime, started_at: datetime) -> None:
    """Record that the scheduler ``instance_id`` completed a tick at ``now`` (an upsert)."""
    statement = _insert(database, SchedulerHeartbeat).values(
        instance_id=instance_id,
        hostname=socket.gethostname()[:255],
        pid=os.getpid(),
        started_at=started_at,
        beat_at=now,
    )
    statement = statement.on_conflict_do_update(
        index_elements=["instance_id"], set_={"beat_at": statement.excluded.beat_at}
    )
    async with database.session() as session:
        await session.execute(statement)


async def newest_heartbeat(database: Database) -> datetime | None:
    """When any scheduler last completed a tick (None: no scheduler ever ran on this database)."""
    async with database.session() as session:
        value: datetime | None = await session.scalar(select(func.max(SchedulerHeartbeat.beat_at)))
        return value


def heartbeat_stale_after(settings: Settings) -> timedelta:
    """A scheduler that missed this long is not ticking: a few ticks, at least 30 seconds."""
    return timedelta(seconds=max(30.0, 6 * settings.scheduler_tick_seconds))


# Retention --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PruneResult:
    executions_deleted: int = 0
    posts_deleted: int = 0
    accounts_advanced: int = 0
    heartbeats_deleted: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


async def _delete_batches(database: Database, query: Any, table: Any, *, batch_size: int) -> int:
    """Delete the rows whose ids ``query`` selects (oldest first), ``batch_size`` per transaction.
    ``query`` selects ``table.id`` and already filters to deletable rows; it is re-applied inside
    the DELETE so a row that changed since it was read is left alone."""
    deleted = 0
    while True:
        async with database.session() as session:
            ids = list(await session.scalars(query.order_by(table.id).limit(batch_size)))
            if not ids:
                return deleted
            where = query.whereclause
            statement = delete(table).where(table.id.in_(ids))
            if where is not None:
                statement = statement.where(where)
            deleted += _rowcount(
                await session.execute(statement.execution_options(synchronize_session=False))
            )
        if len(ids) < batch_size:
            return deleted
        await asyncio.sleep(0)  # let the event loop breathe between batches


async def prune_executions(
    database: Database,
    *,
    now: datetime,
    retention_days: int,
    max_runs_per_job: int,
    batch_size: int = BATCH_SIZE,
) -> int:
    """Delete finished executions older than ``retention_days``, and a job's finished executions
    beyond its newest ``max_runs_per_job``. Returns how many were deleted."""
    cutoff = now - timedelta(days=retention_days)
    finished = JobExecution.status.in_(FINISHED_STATUSES)
    old = select(JobExecution.id).where(JobExecution.created_at < cutoff, finished)
    deleted = await _delete_batches(database, old, JobExecution, batch_size=batch_size)
    async with database.session() as session:
        crowded = list(
            await session.scalars(
                select(JobExecution.job_id)
                .where(JobExecution.job_id.is_not(None))
                .group_by(JobExecution.job_id)
                .having(func.count() > max_runs_per_job)
            )
        )
    for job_id in crowded:
        async with database.session() as session:
            # The newest row past the cap: it and everything older (finished) goes.
            threshold = await session.scalar(
                select(JobExecution.id)
                .where(JobExecution.job_id == job_id)
                .order_by(JobExecution.id.desc())
                .offset(max_runs_per_job)
                .limit(1)
            )
        if threshold is None:
            continue
        beyond = select(JobExecution.id).where(
            JobExecution.job_id == job_id, JobExecution.id <= threshold, finished
        )
        deleted += await _delete_batches(database, beyond, JobExecution, batch_size=batch_size)
    return deleted


def _cursor_floor(
    followers: list[tuple[str | None, int]], *, now: datetime
) -> tuple[int | None, datetime | None]:
    """What the jobs following an account still need: posts with ``sort_key`` above the smallest
    cursor, and (jobs that never ran) posts since the start of their first window."""
    cursors = [int(cursor) for cursor, _ in followers if cursor is not None and cursor.isdigit()]
    first_windows = [
        now - timedelta(hours=schedule.first_run_hours(frequency))
        for cursor, frequency in followers
        if cursor is None
    ]
    return (min(cursors) if cursors else None, min(first_windows) if first_windows else None)


async def _prune_account(
    database: Database, account_id: int, username: str, *, cutoff: datetime, now: datetime, batch_size: int
) -> tuple[int, bool]:
    async with database.session() as session:
        followers = [
            (row.last_post_id, row.frequency)
            for row in await session.execute(
                select(Job.last_post_id, Job.frequency).where(
                    # A briefing follows the account too, from any position (``job_accounts``).
                    (func.lower(Job.x_username) == username)
                    | Job.id.in_(select(JobAccount.job_id).where(func.lower(JobAccount.account) == username))
                )
            )
        ]
    floor_id, first_window = _cursor_floor(followers, now=now)
    before = min(cutoff, first_window) if first_window is not None else cutoff
    conditions = [StoredPost.account_id == account_id, StoredPost.created_at < before]
    if floor_id is not None:
        # The cursor's own post stays (covered_from uses it).
        conditions.append(StoredPost.sort_key < floor_id)
    deleted = 0
    newest_deleted: datetime | None = None
    while True:
        async with database.session() as session:
            # Serialise with a fetch storing posts of this account (it locks the row the same way).
            account = await session.scalar(
                select(XAccount).where(XAccount.id == account_id).with_for_update()
            )
            if account is None:
                return deleted, False
            rows = (
                await session.execute(
                    select(StoredPost.id, StoredPost.created_at)
                    .where(*conditions)
                    .order_by(StoredPost.id)
                    .limit(batch_size)
                )
            ).all()
            if rows:
                deleted += _rowcount(
                    await session.execute(
                        delete(StoredPost)
                        .where(StoredPost.id.in_([row.id for row in rows]))
                        .execution_options(synchronize_session=False)
                    )
                )
                batch_newest = max(row.created_at for row in rows)
                newest_deleted = batch_newest if newest_deleted is None else max(newest_deleted, batch_newest)
                # Every post after the newest deleted one is still stored.
                boundary = newest_deleted + ONE_MICROSECOND
                if account.covered_since is not None and account.covered_since < boundary:
                    account.covered_since = boundary
        if len(rows) < batch_size:
            return deleted, newest_deleted is not None


async def prune_posts(
    database: Database, *, now: datetime, retention_days: int, batch_size: int = BATCH_SIZE
) -> tuple[int, int]:
    """Delete posts older than ``retention_days`` that no job's cursor still needs; returns
    (posts deleted, accounts whose ``covered_since`` moved)."""
    cutoff = now - timedelta(days=retention_days)
    async with database.session() as session:
        accounts = (
            await session.execute(
                select(XAccount.id, XAccount.username)
                .where(exists().where(StoredPost.account_id == XAccount.id, StoredPost.created_at < cutoff))
                .order_by(XAccount.id)
            )
        ).all()
    deleted = advanced = 0
    for account_id, username in accounts:
        count, moved = await _prune_account(
            database, account_id, username, cutoff=cutoff, now=now, batch_size=batch_size
        )
        deleted += count
        advanced += int(moved)
    return deleted, advanced


async def prune(
    database: Database, settings: Settings, *, now: datetime, batch_size: int = BATCH_SIZE
) -> PruneResult:
    """Apply every retention rule once (see the module docstring)."""
    executions = await prune_executions(
        database,
        now=now,
        retention_days=settings.retention_days,
        max_runs_per_job=settings.retention_max_runs_per_job,
        batch_size=batch_size,
    )
    posts, advanced = await prune_posts(
        database, now=now, retention_days=settings.post_retention_days, batch_size=batch_size
    )
    async with database.session() as session:
        heartbeats = _rowcount(
            await session.execute(
                delete(SchedulerHeartbeat).where(SchedulerHeartbeat.beat_at < now - HEARTBEATS_KEPT)
            )
        )
    result = PruneResult(
        executions_deleted=executions,
        posts_deleted=posts,
        accounts_advanced=advanced,
        heartbeats_deleted=heartbeats,
    )
    logger.info("maintenance.pruned", **result.as_dict())
    return result


# The daily lease --------------------------------------------------------------------------------


async def claim_daily(database: Database, *, task: str, holder: str, now: datetime) -> bool:
    """Take the lease of ``task`` when it last finished a day ago (or never) and nobody holds it."""
    async with database.session() as session:
        await session.execute(
            _insert(database, MaintenanceRun)
            .values(name=task)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        result = await session.execute(
            update(MaintenanceRun)
            .where(
                MaintenanceRun.name == task,
                or_(MaintenanceRun.lease_until.is_(None), MaintenanceRun.lease_until < now),
                or_(
                    MaintenanceRun.last_finished_at.is_(None),
                    MaintenanceRun.last_finished_at <= now - PRUNE_EVERY,
                ),
            )
            .values(holder=holder, lease_until=now + PRUNE_LEASE, last_started_at=now)
            .execution_options(synchronize_session=False)
        )
        return _rowcount(result) == 1


async def finish_daily(
    database: Database, *, task: str, holder: str, now: datetime, result: dict[str, Any] | None
) -> None:
    """Release the lease; a result records a success (the next run is due a day later)."""
    values: dict[str, Any] = {"holder": None, "lease_until": None}
    if result is not None:
        values |= {"last_finished_at": now, "last_result": result}
    async with database.session() as session:
        await session.execute(
            update(MaintenanceRun)
            .where(MaintenanceRun.name == task, MaintenanceRun.holder == holder)
            .values(**values)
            .execution_options(synchronize_session=False)
        )


class Housekeeping:
    """What a scheduler does besides dispatching, once per tick: its heartbeat, and (at most every
    ten minutes) an attempt at the daily prune, which then runs in its own task so ticks go on."""

    def __init__(self, database: Database, settings: Settings, *, instance_id: str | None = None) -> None:
        self.database = database
        self.settings = settings
        self.instance_id = instance_id or new_instance_id()
        self.started_at: datetime | None = None
        self._next_check = 0.0
        self._prune_task: asyncio.Task[None] | None = None

    async def on_tick(self, now: datetime) -> None:
        if self.started_at is None:
            self.started_at = now
        await beat(self.database, instance_id=self.instance_id, now=now, started_at=self.started_at)
        loop = asyncio.get_running_loop()
        if self._prune_task is None and loop.time() >= self._next_check:
            self._next_check = loop.time() + PRUNE_CHECK_SECONDS
            if await claim_daily(self.database, task=PRUNE_TASK, holder=self.instance_id, now=now):
                self._prune_task = loop.create_task(self._prune(now), name="xtrack-prune")

    async def _prune(self, now: datetime) -> None:
        result: PruneResult | None = None
        try:
            result = await prune(self.database, self.settings, now=now)
        except Exception:
            logger.exception("maintenance.prune_failed")
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(
                    finish_daily(
                        self.database,
                        task=PRUNE_TASK,
                        holder=self.instance_id,
                        now=now,
                        result=result.as_dict() if result is not None else None,
                    )
                )
            self._prune_task = None

    async def wait(self) -> None:
        """Wait for a prune in progress (tests)."""
        if self._prune_task is not None:
            await asyncio.shield(self._prune_task)

    async def stop(self) -> None:
        """Interrupt a prune in progress (it is resumable: the next day's run continues it)."""
        task = self._prune_task
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
