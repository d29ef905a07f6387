"""Jobs with their runs, as the dashboard, the job page and the jobs API show them: each job's newest
run and its success over the last finished runs, in one statement for any number of jobs; and what
deleting a job deletes with it. Owner-scoped; read only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from xtrack.errors import NotFound
from xtrack.executions.models import ExecutionStatus, JobExecution
from xtrack.jobs import service as jobs_service
from xtrack.jobs.models import Job
from xtrack.summaries.models import Summary

SUCCESS_RATE_WINDOW = 20
_FINISHED_FOR_RATE = (ExecutionStatus.COMPLETED.value, ExecutionStatus.FAILED.value)


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
    warnings: list[str] | None = None  # a briefing's skipped accounts

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

    @property
    def last_execution_status(self) -> str | None:
        return self.last_run.status if self.last_run is not None else None

    @property
    def success_rate(self) -> float | None:
        """COMPLETED among the recent finished runs, 0 to 1 (4 decimals); None before any finished."""
        return round(self.completed / self.finished, 4) if self.finished else None


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
    columns: list[Any] = [
        Job,
        last.id,
        last.status,
        last.trigger,
        last.tweets_fetched,
        last.error_kind,
        last.created_at,
        last.started_at,
        last.completed_at,
        last.warnings,
        completed.label("completed"),
        finished.label("finished"),
    ]
    return select(*columns).select_from(Job).outerjoin(last, last.id == newest_id)


def _overview_of(row: Any) -> JobOverview:
    (
        job,
        run_id,
        status,
        trigger,
        fetched,
        error_kind,
        created_at,
        started_at,
        completed_at,
        warnings,
        done,
        total,
    ) = row
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
            warnings=warnings,
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
    await jobs_service.get_for_owner(session, owner_id=owner_id, job_id=job_id)
    runs = select(func.count()).select_from(JobExecution).where(JobExecution.job_id == job_id)
    summaries = select(func.count()).select_from(Summary).where(Summary.job_id == job_id)
    row = (await session.execute(select(runs.scalar_subquery(), summaries.scalar_subquery()))).one()
    return JobContents(runs=int(row[0] or 0), summaries=int(row[1] or 0))
