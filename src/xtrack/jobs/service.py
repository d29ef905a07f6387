"""Jobs: create, read (with run statistics), change, pause/resume, delete. Owner-scoped; never commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, delete, func, select
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from xtrack.errors import Conflict, NotFound
from xtrack.executions.models import ExecutionStatus, JobExecution
from xtrack.jobs import schedule
from xtrack.jobs.models import Job
from xtrack.jobs.schemas import JobCreate, JobUpdate
from xtrack.summaries.models import Summary
from xtrack.users.models import User

SUCCESS_RATE_WINDOW = 20
_FINISHED_FOR_RATE = (ExecutionStatus.COMPLETED.value, ExecutionStatus.FAILED.value)


@dataclass(frozen=True, slots=True)
class JobStats:
    job: Job
    last_execution_status: str | None
    success_rate: float | None


def _with_stats() -> Select[Job, str | None, float | None]:
    """Jobs with their newest execution's status and success rate over the last 20 finished runs,
    as correlated subqueries on the (job_id, id) index: one statement for any number of jobs."""
    last = aliased(JobExecution)
    last_status = (
        select(last.status).where(last.job_id == Job.id).order_by(last.id.desc()).limit(1).scalar_subquery()
    )
    recent_rows = aliased(JobExecution)
    recent = (
        select(recent_rows.status.label("status"))
        .where(recent_rows.job_id == Job.id, recent_rows.status.in_(_FINISHED_FOR_RATE))
        .order_by(recent_rows.id.desc())
        .limit(SUCCESS_RATE_WINDOW)
        .correlate(Job)
        .subquery()
    )
    rate = (
        select(func.avg(case((recent.c.status == ExecutionStatus.COMPLETED.value, 1.0), else_=0.0)))
        .select_from(recent)
        .scalar_subquery()
    )
    return select(Job, last_status.label("last_status"), rate.label("success_rate"))


def _stats(row: tuple[Job, str | None, float | None]) -> JobStats:
    job, last_status, rate = row
    return JobStats(
        job=job,
        last_execution_status=last_status,
        success_rate=None if rate is None else round(float(rate), 4),
    )


async def list_for_owner(session: AsyncSession, *, owner_id: int) -> list[JobStats]:
    """The owner's jobs, newest first, with their run statistics (one query)."""
    rows = await session.execute(_with_stats().where(Job.user_id == owner_id).order_by(Job.id.desc()))
    return [_stats((row[0], row[1], row[2])) for row in rows]


async def get_with_stats(session: AsyncSession, *, owner_id: int, job_id: int) -> JobStats:
    row = (await session.execute(_with_stats().where(Job.id == job_id, Job.user_id == owner_id))).first()
    if row is None:
        raise NotFound("Job not found.")
    return _stats((row[0], row[1], row[2]))


async def get_for_owner(session: AsyncSession, *, owner_id: int, job_id: int, lock: bool = False) -> Job:
    """The owner's job; NotFound for a missing job or another user's (never 403)."""
    query = select(Job).where(Job.id == job_id, Job.user_id == owner_id)
    if lock:
        query = query.with_for_update()
    job = (await session.execute(query)).scalar_one_or_none()
    if job is None:
        raise NotFound("Job not found.")
    return job


async def count_for_owner(session: AsyncSession, *, owner_id: int) -> int:
    return int(
        await session.scalar(select(func.count()).select_from(Job).where(Job.user_id == owner_id)) or 0
    )


async def create(session: AsyncSession, *, owner: User, data: JobCreate, max_jobs: int, now: datetime) -> Job:
    """A new active job, due at once (it runs within one scheduler tick); Conflict over the limit."""
    # Serialise one user's concurrent creates so the limit holds (a no-op lock on SQLite).
    await session.execute(select(User.id).where(User.id == owner.id).with_for_update())
    if await count_for_owner(session, owner_id=owner.id) >= max_jobs:
        raise Conflict(
            f"You already have {max_jobs} jobs, the most allowed per user: delete one first.",
            field="x_username",
        )
    job = Job(
        user_id=owner.id,
        x_username=data.x_username,
        topics=data.topics,
        frequency=data.frequency,
        language=data.language,
        is_active=True,
        next_run_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(job)
    await session.flush()
    return job


async def update(session: AsyncSession, *, owner_id: int, job_id: int, data: JobUpdate, now: datetime) -> Job:
    """Change the fields sent. A new username starts over (no cursor, first-run window, due now);
    a new frequency reschedules from the last run; ``is_active`` pauses or resumes."""
    job = await get_for_owner(session, owner_id=owner_id, job_id=job_id, lock=True)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("x_username") is not None and changes["x_username"].lower() != job.x_username.lower():
        job.x_username = changes["x_username"]
        job.last_post_id = None
        job.last_run = None
        job.next_run_at = now
    elif changes.get("x_username") is not None:
        job.x_username = changes["x_username"]
    if changes.get("topics") is not None:
        job.topics = changes["topics"]
    if changes.get("language") is not None:
        job.language = changes["language"]
    if changes.get("frequency") is not None and changes["frequency"] != job.frequency:
        job.frequency = changes["frequency"]
        job.next_run_at = schedule.rescheduled(
            current=job.next_run_at, last_run=job.last_run, frequency_minutes=job.frequency, now=now
        )
    if changes.get("is_active") is not None and changes["is_active"] != job.is_active:
        if changes["is_active"]:
            job.is_active = True
        else:
            await _pause(session, job=job, now=now)
    job.updated_at = now
    await session.flush()
    return job


async def _pause(session: AsyncSession, *, job: Job, now: datetime) -> None:
    job.is_active = False
    # Queued work of a paused job is cancelled; a run already in progress finishes.
    await session.execute(
        sql_update(JobExecution)
        .where(JobExecution.job_id == job.id, JobExecution.status == ExecutionStatus.QUEUED.value)
        .values(status=ExecutionStatus.CANCELLED.value, completed_at=now)
        .execution_options(synchronize_session=False)
    )


async def pause(session: AsyncSession, *, owner_id: int, job_id: int, now: datetime) -> Job:
    """Stop scheduling the job and cancel its QUEUED executions."""
    job = await get_for_owner(session, owner_id=owner_id, job_id=job_id, lock=True)
    if job.is_active:
        await _pause(session, job=job, now=now)
        job.updated_at = now
        await session.flush()
    return job


async def resume(session: AsyncSession, *, owner_id: int, job_id: int, now: datetime) -> Job:
    """Schedule the job again; slots missed while paused collapse into one catch-up run."""
    job = await get_for_owner(session, owner_id=owner_id, job_id=job_id, lock=True)
    if not job.is_active:
        job.is_active = True
        if job.next_run_at is None:
            job.next_run_at = now
        job.updated_at = now
        await session.flush()
    return job


async def delete_for_owner(session: AsyncSession, *, owner_id: int, job_id: int) -> None:
    """Delete the job with its executions and summaries (foreign-key cascade)."""
    result = await session.execute(
        delete(Job)
        .where(Job.id == job_id, Job.user_id == owner_id)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) == 0:
        raise NotFound("Job not found.")


@dataclass(frozen=True, slots=True)
class LastRun:
    """The newest execution of a job, as the dashboard and the job page show it."""

    id: int
    status: str
    trigger: str
    tweets_fetched: int
    error_kind: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None

    @property
    def is_active(self) -> bool:
        return self.status in (ExecutionStatus.QUEUED.value, ExecutionStatus.RUNNING.value)


@dataclass(frozen=True, slots=True)
class JobOverview:
    """A job with its newest run and its success over the last ``SUCCESS_RATE_WINDOW`` finished runs."""

    job: Job
    last_run: LastRun | None
    completed: int  # COMPLETED among the recent finished runs
    finished: int  # COMPLETED or FAILED runs counted (at most SUCCESS_RATE_WINDOW)

    @property
    def is_failing(self) -> bool:
        return self.last_run is not None and self.last_run.status == ExecutionStatus.FAILED.value

    @property
    def has_active_run(self) -> bool:
        """A run is QUEUED or RUNNING (at most one per job, always the newest row)."""
        return self.last_run is not None and self.last_run.is_active


def _overview() -> Select[Any]:
    """Jobs joined to their newest execution, with recent completed/finished counts: one statement
    (correlated subqueries on the (job_id, id) index), no query per job."""
    newest_id = (
        select(func.max(JobExecution.id))
        .where(JobExecution.job_id == Job.id)
        .correlate(Job)
        .scalar_subquery()
    )
    last = aliased(JobExecution, name="last_run")
    recent_rows = aliased(JobExecution)
    recent = (
        select(recent_rows.status.label("status"))
        .where(recent_rows.job_id == Job.id, recent_rows.status.in_(_FINISHED_FOR_RATE))
        .order_by(recent_rows.id.desc())
        .limit(SUCCESS_RATE_WINDOW)
        .correlate(Job)
        .subquery()
    )
    completed = (
        select(func.count())
        .select_from(recent)
        .where(recent.c.status == ExecutionStatus.COMPLETED.value)
        .scalar_subquery()
    )
    finished = select(func.count()).select_from(recent).scalar_subquery()
    return (
        select(
            Job,
            last.id,
            last.status,
            last.trigger,
            last.tweets_fetched,
            last.error_kind,
            last.created_at,
            last.started_at,
            last.completed_at,
            completed.label("completed"),
            finished.label("finished"),
        )
        .select_from(Job)
        .outerjoin(last, last.id == newest_id)
    )


def _overview_of(row: Any) -> JobOverview:
    job, run_id, status, trigger, fetched, error_kind, created_at, started_at, completed_at, done, total = row
    last_run = None
    if run_id is not None:
        last_run = LastRun(
            id=run_id,
            status=status,
            trigger=trigger,
            tweets_fetched=fetched or 0,
            error_kind=error_kind,
            created_at=created_at,
            started_at=started_at,
            completed_at=completed_at,
        )
    return JobOverview(job=job, last_run=last_run, completed=int(done or 0), finished=int(total or 0))


async def overview_for_owner(session: AsyncSession, *, owner_id: int) -> list[JobOverview]:
    """The owner's jobs, newest first, each with its newest run and recent success (one query)."""
    rows = await session.execute(_overview().where(Job.user_id == owner_id).order_by(Job.id.desc()))
    return [_overview_of(row) for row in rows]


async def get_overview(session: AsyncSession, *, owner_id: int, job_id: int) -> JobOverview:
    """One of the owner's jobs with its newest run; NotFound for another user's."""
    row = (await session.execute(_overview().where(Job.id == job_id, Job.user_id == owner_id))).first()
    if row is None:
        raise NotFound("Job not found.")
    return _overview_of(row)


@dataclass(frozen=True, slots=True)
class JobContents:
    """What deleting a job deletes with it."""

    runs: int
    summaries: int


async def contents(session: AsyncSession, *, owner_id: int, job_id: int) -> JobContents:
    """How many executions and summaries belong to the owner's job (for the delete confirmation)."""
    await get_for_owner(session, owner_id=owner_id, job_id=job_id)
    runs = select(func.count()).select_from(JobExecution).where(JobExecution.job_id == job_id)
    summaries = select(func.count()).select_from(Summary).where(Summary.job_id == job_id)
    row = (await session.execute(select(runs.scalar_subquery(), summaries.scalar_subquery()))).one()
    return JobContents(runs=int(row[0] or 0), summaries=int(row[1] or 0))
