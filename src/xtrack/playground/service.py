"""Playground: one-off runs of the engine's pipeline, a private history per user, quotas. Never commits.

A playground run is a ``job_executions`` row (trigger PLAYGROUND, job_id NULL, user_id the caller,
``params`` its inputs) run by the same runner and executor as a job's runs, so it is queued,
retried, reaped and shown the same way; its summary (``is_playground``) points back through
``execution_id``. The local operator's runs (``xtrack playground`` without ``--user``) have
user_id NULL: no quota, and in nobody's history.

Quota, per user: at most ``XTRACK_PLAYGROUND_DAILY_QUOTA`` runs in any rolling 24 hours (rolling
rather than per calendar day, so a burst just before midnight UTC does not get a second quota a
minute later) and ``XTRACK_PLAYGROUND_MAX_CONCURRENT`` QUEUED or RUNNING at once. Every PLAYGROUND
row of the user counts whatever its outcome, including retries of failed runs
(``retry`` goes through ``check_quota``) and ``xtrack playground --user``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, cast

from pydantic import ValidationError
from sqlalchemy import Table, bindparam, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from xtrack.config import Settings
from xtrack.errors import Forbidden, Invalid, NotFound, RateLimited
from xtrack.executions import budget as budgets
from xtrack.executions import estimate as estimates
from xtrack.executions import service as executions_service
from xtrack.executions.executors.base import Executor
from xtrack.executions.models import (
    ACTIVE_PLAYGROUND_SQL,
    PLAYGROUND_SQL,
    ExecutionStatus,
    JobExecution,
    Trigger,
)
from xtrack.jobs import service as jobs_service
from xtrack.jobs.models import Job
from xtrack.jobs.schemas import JobCreate
from xtrack.playground.history import get_run
from xtrack.users.models import User, UserStatus

if TYPE_CHECKING:
    from xtrack.playground.schemas import PlaygroundRunCreate

QUOTA_WINDOW = timedelta(hours=24)
CONCURRENCY_RETRY_AFTER = 10  # seconds: runs take seconds, so ask again soon
NOT_ACTIVE_DETAIL = "Verify your email address first: the playground is open to verified accounts only."
SUSPENDED_DETAIL = "This account is suspended."


def _require_active(user: User) -> None:
    """Runs spend money: verified (ACTIVE) users only."""
    if user.status == UserStatus.SUSPENDED.value:
        raise Forbidden(SUSPENDED_DETAIL)
    if user.status != UserStatus.ACTIVE.value:
        raise Forbidden(NOT_ACTIVE_DETAIL)


async def _serialize_user(session: AsyncSession, user_id: int) -> None:
    """Make one user's concurrent requests take turns, so two cannot both take the last slot."""
    bind = session.get_bind()
    if bind.dialect.name == "sqlite":
        # SQLite has one writer at a time: take the write lock before reading the counts.
        await session.execute(text("UPDATE users SET id = id WHERE 0"))
    else:
        await session.execute(select(User.id).where(User.id == user_id).with_for_update())


def _wait_words(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} seconds"
    minutes = math.ceil(seconds / 60)
    if minutes < 90:
        return f"{minutes} minutes"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


async def runs_today(session: AsyncSession, *, user_id: int, now: datetime) -> int:
    """The user's playground runs in the last 24 hours (the quota's window), whatever their outcome."""
    return int(
        await session.scalar(
            select(func.count())
            .select_from(JobExecution)
            .where(
                JobExecution.user_id == user_id,
                JobExecution.trigger == Trigger.PLAYGROUND.value,
                JobExecution.created_at > now - QUOTA_WINDOW,
            )
        )
        or 0
    )


_EXECUTIONS = JobExecution.__table__
# The partial indexes' predicates as literal SQL: with a bound value PostgreSQL's generic plan of the
# prepared statement could not use them.
_MINE = (_EXECUTIONS.c.user_id == bindparam("user_id")) & text(PLAYGROUND_SQL)
# The quota in one read, each half served by its own partial index of the user's playground runs
# (ix_job_executions_playground_created, ix_job_executions_playground_active): the created_at of the
# quota-th newest run in the window (NULL: a slot is free) and the runs QUEUED or RUNNING.
_QUOTA_READ = select(
    select(_EXECUTIONS.c.created_at)
    .where(_MINE, _EXECUTIONS.c.created_at > bindparam("since"))
    .order_by(_EXECUTIONS.c.created_at.desc())
    .offset(bindparam("nth"))
    .limit(1)
    .scalar_subquery()
    .label("quota_th"),
    select(func.count())
    .select_from(_EXECUTIONS)
    .where(_EXECUTIONS.c.user_id == bindparam("user_id"), text(ACTIVE_PLAYGROUND_SQL))
    .scalar_subquery()
    .label("active"),
)


async def check_quota(session: AsyncSession, *, user_id: int, settings: Settings, now: datetime) -> None:
    """RateLimited (429) when the user has had ``playground_daily_quota`` runs in the last 24 hours
    (``retry_after``: seconds until the oldest of them leaves the window) or has
    ``playground_max_concurrent`` runs QUEUED or RUNNING (``retry_after`` 10 s). Takes the user's
    row lock first, so the check and the insert that follows it are atomic per user."""
    await _serialize_user(session, user_id)
    quota = settings.playground_daily_quota
    if quota <= 0:
        raise RateLimited(
            "The playground is turned off on this server (XTRACK_PLAYGROUND_DAILY_QUOTA is 0).",
            retry_after=int(QUOTA_WINDOW.total_seconds()),
        )
    used = (
        await session.execute(
            _QUOTA_READ, {"user_id": user_id, "since": now - QUOTA_WINDOW, "nth": quota - 1}
        )
    ).one()
    if used.quota_th is not None:
        # When the quota-th newest run leaves the window, quota - 1 remain: a slot is free.
        wait = max(1, math.ceil((used.quota_th + QUOTA_WINDOW - now).total_seconds()))
        raise RateLimited(
            f"You have used your {quota} playground runs for the last 24 hours; "
            f"the next one is available in {_wait_words(wait)}.",
            retry_after=wait,
        )
    active = used.active
    if int(active or 0) >= settings.playground_max_concurrent:
        limit = settings.playground_max_concurrent
        runs = "run" if limit == 1 else "runs"
        raise RateLimited(
            f"At most {limit} playground {runs} at a time: wait for one to finish.",
            retry_after=CONCURRENCY_RETRY_AFTER,
        )


async def create_execution(
    session: AsyncSession,
    *,
    user_id: int | None,
    x_username: str,
    topics: Sequence[str],
    hours_back: int,
    language: str,
    now: datetime,
    executor: Executor | None,
    retry_of_id: int | None = None,
    accounts: Sequence[str] = (),
) -> JobExecution:
    """A QUEUED PLAYGROUND execution (no job) that the runner executes like any other; the caller
    validates the inputs and checks the quota (``check_quota``) first."""
    if hours_back < 1:
        raise Invalid("hours_back must be at least 1.", field="hours_back")
    values = {
        "job_id": None,
        "user_id": user_id,
        "status": ExecutionStatus.QUEUED.value,
        "trigger": Trigger.PLAYGROUND.value,
        "params": {
            "x_username": x_username,
            "topics": list(topics),
            "hours_back": hours_back,
            "language": language,
            # A briefing tried out: its accounts (the first is x_username), as a job's run records them.
            **({"accounts": list(accounts)} if len(accounts) > 1 else {}),
        },
        "created_at": now,
        "queued_at": now if executor is not None else None,
        "attempt": 1,
        "retry_of_id": retry_of_id,
    }
    # A Core INSERT … RETURNING rather than the ORM's unit of work (add + flush): the row comes
    # back as inserted, defaults included, for the 202 (about 0.3 ms of CPU less per accepted run).
    row = (await session.execute(_INSERT_RUN, values)).one()
    execution = JobExecution(**row._asdict())
    executions_service.hand_out_after_commit(session, executor, [execution.id])
    return execution


_EXECUTIONS = cast(Table, JobExecution.__table__)
_INSERT_RUN = insert(_EXECUTIONS).returning(*_EXECUTIONS.c)


async def create_run(
    session: AsyncSession,
    *,
    user: User | None,
    data: PlaygroundRunCreate,
    now: datetime,
    settings: Settings,
    executor: Executor | None = None,
) -> JobExecution:
    """Queue a playground run for ``user`` (ACTIVE users only; quota checked) and hand it to
    ``executor`` after the commit, as the engine does for manual runs; without an executor the next
    scheduler tick hands it out. ``user=None``: the local operator (CLI), no quota."""
    if user is not None:
        _require_active(user)
        await budgets.refuse_if_paused(session, user_id=user.id, settings=settings, now=now)
        await check_quota(session, user_id=user.id, settings=settings, now=now)
        if not data.confirm_cost:
            await estimates.require_confirmation(
                session,
                settings=settings,
                usernames=data.accounts or [data.x_username],
                hours_back=data.hours_back,
                now=now,
            )
    return await create_execution(
        session,
        user_id=None if user is None else user.id,
        x_username=data.x_username,
        topics=data.topics,
        hours_back=data.hours_back,
        language=data.language,
        now=now,
        executor=executor,
        accounts=data.accounts or (),
    )


async def retry(
    session: AsyncSession,
    *,
    owner_id: int,
    execution_id: int,
    now: datetime,
    settings: Settings,
    executor: Executor | None,
) -> JobExecution:
    """A new PLAYGROUND execution repeating one of the owner's FAILED playground runs
    (``retry_of_id``), counted toward the quota; NotFound for any other execution."""
    failed = await executions_service.get_failed(session, owner_id=owner_id, execution_id=execution_id)
    if failed.trigger != Trigger.PLAYGROUND.value:
        raise NotFound("Execution not found.")
    await budgets.refuse_if_paused(session, user_id=owner_id, settings=settings, now=now)
    await check_quota(session, user_id=owner_id, settings=settings, now=now)
    params = dict(failed.params or {})
    return await create_execution(
        session,
        user_id=failed.user_id,
        x_username=str(params.get("x_username", "")),
        topics=list(params.get("topics") or []),
        hours_back=int(params.get("hours_back") or 24),
        language=str(params.get("language") or "en"),
        now=now,
        executor=executor,
        retry_of_id=failed.id,
        accounts=[str(name) for name in params.get("accounts") or []],
    )


def _invalid(exc: ValidationError) -> Invalid:
    first = exc.errors()[0]
    field = str(first["loc"][0]) if first.get("loc") else None
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    return Invalid(f"{field}: {message}" if field else message, field=field)


async def save_as_job(
    session: AsyncSession,
    *,
    user: User,
    run_id: int,
    frequency: int | str,
    now: datetime,
    settings: Settings,
) -> Job:
    """A new job following the run's account with its topics and language, every ``frequency``
    (minutes or a preset such as "6h"). NotFound for another user's run; Conflict over the job limit."""
    _require_active(user)
    run = await get_run(session, user=user, run_id=run_id)
    try:
        data = JobCreate.model_validate(
            {
                "x_username": run.x_username,
                "accounts": run.accounts,
                "topics": run.topics,
                "frequency": frequency,
                "language": run.language,
            }
        )
    except ValidationError as exc:
        raise _invalid(exc) from None
    return await jobs_service.create(
        session, owner=user, data=data, max_jobs=settings.max_jobs_per_user, now=now
    )
