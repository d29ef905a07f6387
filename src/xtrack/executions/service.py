"""Executions: manual runs, retries, pausing a job (its queued runs), history. Owner-scoped; never commits.

New QUEUED rows are handed to the executor only after the unit of work commits
(``xtrack.db.after_commit``). Without an executor in this process (``xtrack web`` next to separate
schedulers) the row is left with ``queued_at`` NULL and the next dispatcher tick hands it out.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from xtrack.config import Settings
from xtrack.db import after_commit
from xtrack.errors import Conflict, NotFound
from xtrack.executions import budget as budgets
from xtrack.executions.executors.base import Executor
from xtrack.executions.inputs import job_inputs
from xtrack.executions.models import ExecutionStatus, JobExecution, Trigger
from xtrack.executions.models import duration_ms as run_duration_ms
from xtrack.jobs import service as jobs_service
from xtrack.jobs.models import Job
from xtrack.jobs.schemas import JobUpdate
from xtrack.summaries.models import Summary

HISTORY_DEFAULT_LIMIT = 50
HISTORY_MAX_LIMIT = 200
ACTIVE_RUN_DETAIL = "A run of this job is already queued or running; wait for it to finish."


def hand_out_after_commit(
    session: AsyncSession, executor: Executor | None, execution_ids: Sequence[int]
) -> None:
    """Give the executions to ``executor`` once this unit of work has committed."""
    if executor is None or not execution_ids:
        return
    ids = list(execution_ids)

    async def hand_out() -> None:
        await executor.submit(ids)

    after_commit(session, hand_out)


async def _insert_queued(session: AsyncSession, execution: JobExecution) -> JobExecution:
    """Insert a QUEUED execution; the one-active-run-per-job index turns a second one into a 409."""
    try:
        async with session.begin_nested():
            session.add(execution)
            await session.flush()
    except IntegrityError:
        raise Conflict(ACTIVE_RUN_DETAIL) from None
    return execution


async def run_now(
    session: AsyncSession,
    *,
    owner_id: int,
    job_id: int,
    now: datetime,
    executor: Executor | None,
    settings: Settings | None = None,
) -> JobExecution:
    """Queue a MANUAL run of the owner's job; Conflict while one is QUEUED or RUNNING, the job is
    paused, or (given ``settings``) the owner's spent monthly budget pauses runs."""
    job = await jobs_service.get_for_owner(session, owner_id=owner_id, job_id=job_id)
    if not job.is_active:
        raise Conflict("This job is paused: resume it before running it.")
    if settings is not None:
        await budgets.refuse_if_paused(session, user_id=job.user_id, settings=settings, now=now)
    execution = JobExecution(
        job_id=job.id,
        user_id=job.user_id,
        status=ExecutionStatus.QUEUED.value,
        trigger=Trigger.MANUAL.value,
        params=job_inputs(
            job, now=now, accounts=(await jobs_service.accounts_of(session, [job.id]))[job.id]
        ).params(),
        created_at=now,
        queued_at=now if executor is not None else None,
        attempt=1,
    )
    await _insert_queued(session, execution)
    hand_out_after_commit(session, executor, [execution.id])
    return execution


async def get_failed(session: AsyncSession, *, owner_id: int, execution_id: int) -> JobExecution:
    """The owner's FAILED execution (to retry it); NotFound for anyone else's, Conflict unless FAILED."""
    failed = (
        await session.execute(
            select(JobExecution).where(JobExecution.id == execution_id, JobExecution.user_id == owner_id)
        )
    ).scalar_one_or_none()
    if failed is None:
        raise NotFound("Execution not found.")
    if failed.status != ExecutionStatus.FAILED.value:
        raise Conflict(f"Only a FAILED execution can be retried; this one is {failed.status}.")
    return failed


async def retry(
    session: AsyncSession,
    *,
    owner_id: int,
    execution_id: int,
    now: datetime,
    executor: Executor | None,
    settings: Settings | None = None,
) -> JobExecution:
    """A new MANUAL execution repeating a FAILED run of a job (``retry_of_id``). A failed playground
    run is retried by ``playground.service.retry`` (it counts toward the quota): NotFound here.
    Given ``settings``, Conflict while the owner's spent monthly budget pauses runs."""
    failed = await get_failed(session, owner_id=owner_id, execution_id=execution_id)
    if failed.job_id is None:
        raise NotFound("Execution not found.")
    job = await jobs_service.get_for_owner(session, owner_id=owner_id, job_id=failed.job_id)
    if not job.is_active:
        raise Conflict("This job is paused: resume it before retrying its runs.")
    if settings is not None:
        await budgets.refuse_if_paused(session, user_id=job.user_id, settings=settings, now=now)
    execution = JobExecution(
        job_id=job.id,
        user_id=job.user_id,
        status=ExecutionStatus.QUEUED.value,
        trigger=Trigger.MANUAL.value,
        params=job_inputs(
            job, now=now, accounts=(await jobs_service.accounts_of(session, [job.id]))[job.id]
        ).params(),
        created_at=now,
        queued_at=now if executor is not None else None,
        attempt=1,
        retry_of_id=failed.id,
    )
    await _insert_queued(session, execution)
    hand_out_after_commit(session, executor, [execution.id])
    return execution


async def cancel_queued_runs(session: AsyncSession, *, job_id: int, now: datetime) -> None:
    """Cancel the job's QUEUED executions (a paused job); a run already in progress finishes."""
    await session.execute(
        update(JobExecution)
        .where(JobExecution.job_id == job_id, JobExecution.status == ExecutionStatus.QUEUED.value)
        .values(status=ExecutionStatus.CANCELLED.value, completed_at=now)
        .execution_options(synchronize_session=False)
    )


async def update_job(
    session: AsyncSession, *, owner_id: int, job_id: int, data: JobUpdate, now: datetime
) -> Job:
    """Change the fields sent (``jobs.service.update``); pausing the job cancels its QUEUED runs."""
    job = await jobs_service.get_for_owner(session, owner_id=owner_id, job_id=job_id, lock=True)
    was_active = job.is_active
    job = await jobs_service.update(session, owner_id=owner_id, job_id=job_id, data=data, now=now)
    if was_active and not job.is_active:
        await cancel_queued_runs(session, job_id=job.id, now=now)
    return job


async def pause_job(session: AsyncSession, *, owner_id: int, job_id: int, now: datetime) -> Job:
    """Stop scheduling the job (``jobs.service.pause``) and cancel its QUEUED runs."""
    job = await jobs_service.get_for_owner(session, owner_id=owner_id, job_id=job_id, lock=True)
    was_active = job.is_active
    job = await jobs_service.pause(session, owner_id=owner_id, job_id=job_id, now=now)
    if was_active:
        await cancel_queued_runs(session, job_id=job.id, now=now)
    return job


def llm_cost_column() -> Any:
    """The LLM cost of the execution's summary, as a correlated scalar subquery."""
    executions, summaries = JobExecution.__table__, Summary.__table__
    return (
        select(func.min(summaries.c.cost))
        .where(summaries.c.execution_id == executions.c.id)
        .correlate(executions)
        .scalar_subquery()
        .label("llm_cost_usd")
    )


def summary_id_column() -> Any:
    """The execution's summary id (at most one per execution), as a correlated scalar subquery."""
    executions, summaries = JobExecution.__table__, Summary.__table__
    return (
        select(func.min(summaries.c.id))
        .where(summaries.c.execution_id == executions.c.id)
        .correlate(executions)
        .scalar_subquery()
        .label("summary_id")
    )


# Not frozen: a frozen dataclass's __init__ costs ~10x more, paid per row of a history page.
@dataclass(slots=True)
class ExecutionView:
    """An execution as history pages show it, with its summary's id: a plain value read from the
    row's columns (no ORM identity map work on the hot history path)."""

    id: int
    job_id: int | None
    status: str
    trigger: str
    params: dict[str, Any]
    scheduled_for: datetime | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    tweets_fetched: int
    error_kind: str | None
    error_message: str | None
    attempt: int
    not_before: datetime | None
    retry_of_id: int | None
    covered_from: datetime | None
    covered_to: datetime | None
    gap: bool
    gap_note: str | None
    source_requests: int
    posts_read: int
    source_cost_usd: float
    posts_summarized: int | None
    warnings: list[str] | None
    accounts: list[dict[str, Any]] | None
    summary_id: int | None
    llm_cost_usd: float | None = None  # its summary's LLM cost, beside the upstream cost
    # Derived from started_at/completed_at (not a column); a field, so that the API serialises a
    # page of views straight from their attributes (``executions.router.HISTORY_JSON``).
    duration_ms: int | None = None

    def __post_init__(self) -> None:
        self.duration_ms = run_duration_ms(self.started_at, self.completed_at)
        # One shape in the history page and a single execution: lists, never null.
        self.warnings = self.warnings or []
        self.accounts = self.accounts or []

    @classmethod
    def of(cls, execution: JobExecution, *, summary_id: int | None = None) -> ExecutionView:
        return cls(**{name: getattr(execution, name) for name in _COLUMN_FIELDS}, summary_id=summary_id)


# The view's fields read from job_executions' own columns (summary_id comes from a subquery).
_COLUMN_FIELDS = [
    name
    for name in ExecutionView.__dataclass_fields__
    if name not in ("summary_id", "llm_cost_usd", "duration_ms")
]


def _view_columns() -> list[Any]:
    # Table columns, not ORM attributes: a Core select skips the ORM's result loading.
    executions = JobExecution.__table__
    return [executions.c[name] for name in _COLUMN_FIELDS] + [summary_id_column(), llm_cost_column()]


@functools.cache
def _history_statement(*, before: bool, status: bool, trigger: bool) -> Select[Any]:
    """The history page query for one combination of filters, built once with bind parameters
    (``job_id``, ``owner_id``, ``limit`` and the filters'): a request only binds values. The
    ownership test is a one-time filter inside it, so the page costs one query on (job_id, id)."""
    executions, jobs = JobExecution.__table__, Job.__table__
    owned = (
        select(jobs.c.id)
        .where(jobs.c.id == bindparam("job_id"), jobs.c.user_id == bindparam("owner_id"))
        .exists()
    )
    query = select(*_view_columns()).where(executions.c.job_id == bindparam("job_id"), owned)
    if before:
        query = query.where(executions.c.id < bindparam("before"))
    if status:
        query = query.where(executions.c.status == bindparam("status"))
    if trigger:
        query = query.where(executions.c.trigger == bindparam("trigger"))
    return query.order_by(executions.c.id.desc()).limit(bindparam("limit"))


@dataclass(frozen=True, slots=True)
class HistoryPage:
    items: list[ExecutionView]
    next_before: int | None


async def get_for_owner(session: AsyncSession, *, owner_id: int, execution_id: int) -> ExecutionView:
    row = (
        await session.execute(
            select(*_view_columns()).where(JobExecution.id == execution_id, JobExecution.user_id == owner_id)
        )
    ).first()
    if row is None:
        raise NotFound("Execution not found.")
    return ExecutionView(*row)


async def history(
    session: AsyncSession,
    *,
    owner_id: int,
    job_id: int,
    limit: int = HISTORY_DEFAULT_LIMIT,
    before: int | None = None,
    status: ExecutionStatus | None = None,
    trigger: Trigger | None = None,
) -> HistoryPage:
    """The job's executions, newest first, keyset-paginated on id (``before``), with summary ids.
    NotFound unless the job is the owner's. One query on the (job_id, id) index; the ownership
    test is a one-time filter inside it, checked on its own only when the page comes back empty."""
    limit = max(1, min(limit, HISTORY_MAX_LIMIT))
    statement = _history_statement(
        before=before is not None, status=status is not None, trigger=trigger is not None
    )
    values: dict[str, Any] = {"job_id": job_id, "owner_id": owner_id, "limit": limit + 1}
    if before is not None:
        values["before"] = before
    if status is not None:
        values["status"] = status.value
    if trigger is not None:
        values["trigger"] = trigger.value
    rows = (await session.execute(statement, values)).all()
    if not rows:
        await jobs_service.get_for_owner(session, owner_id=owner_id, job_id=job_id)  # NotFound if not theirs
    items = [ExecutionView(*row) for row in rows[:limit]]
    return HistoryPage(items=items, next_before=items[-1].id if len(rows) > limit else None)


async def history_counts(session: AsyncSession, *, owner_id: int, job_id: int) -> dict[tuple[str, str], int]:
    """How many of the job's executions have each (status, trigger): one grouped query, from which
    history filters show their counts. NotFound unless the job is the owner's."""
    await jobs_service.get_for_owner(session, owner_id=owner_id, job_id=job_id)
    rows = await session.execute(
        select(JobExecution.status, JobExecution.trigger, func.count())
        .where(JobExecution.job_id == job_id)
        .group_by(JobExecution.status, JobExecution.trigger)
    )
    return {(str(status), str(trigger)): int(count) for status, trigger, count in rows}


async def newer_page_before(
    session: AsyncSession,
    *,
    owner_id: int,
    job_id: int,
    before: int,
    limit: int = HISTORY_DEFAULT_LIMIT,
    status: ExecutionStatus | None = None,
    trigger: Trigger | None = None,
) -> int | None:
    """The ``before`` of the history page just newer than the page at ``before`` (the same filters),
    or None when that page is the first one. Paging Older then Newer visits every row exactly once."""
    limit = max(1, min(limit, HISTORY_MAX_LIMIT))
    owned = select(Job.id).where(Job.id == job_id, Job.user_id == owner_id).exists()
    query = select(JobExecution.id).where(JobExecution.job_id == job_id, owned, JobExecution.id >= before)
    if status is not None:
        query = query.where(JobExecution.status == status.value)
    if trigger is not None:
        query = query.where(JobExecution.trigger == trigger.value)
    ids = list((await session.scalars(query.order_by(JobExecution.id.asc()).limit(limit + 1))).all())
    if len(ids) <= limit:
        return None
    return ids[limit - 1] + 1
