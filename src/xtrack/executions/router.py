"""Executions API: manual runs, retries and the execution history (the seed's endpoint)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession

from xtrack.config import Settings
from xtrack.db import MAX_ID, utcnow
from xtrack.executions import service as executions_service
from xtrack.executions.executors.base import Executor
from xtrack.executions.models import ExecutionStatus, JobExecution, Trigger
from xtrack.executions.schemas import ExecutionPage, ExecutionRead
from xtrack.playground import service as playground_service
from xtrack.ratelimit import RateLimiter, RateLimiterDep
from xtrack.users.deps import ActiveUser, CurrentUser
from xtrack.web.deps import SessionDep, SettingsDep
from xtrack.web.responses import json_response

router = APIRouter(tags=["executions"])

# A history page as JSON straight from the service's views (the shape of ExecutionPage).
HISTORY_JSON: TypeAdapter[executions_service.HistoryPage] = TypeAdapter(executions_service.HistoryPage)

R401: dict[int | str, dict[str, Any]] = {401: {"description": "Not signed in"}}
R403: dict[int | str, dict[str, Any]] = {403: {"description": "Email address not verified yet"}}
R404: dict[int | str, dict[str, Any]] = {404: {"description": "No such job or execution (or not yours)"}}
R409: dict[int | str, dict[str, Any]] = {
    409: {"description": "A run is already queued or running, or the job is paused"}
}
R422: dict[int | str, dict[str, Any]] = {422: {"description": "Invalid parameter; the detail names it"}}
R429: dict[int | str, dict[str, Any]] = {
    429: {
        "description": "Manual-run limit (XTRACK_MANUAL_RUN_LIMIT) or playground quota used up",
        "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
    }
}


async def get_executor(request: Request) -> Executor | None:
    """The executor running in this process, if any (``xtrack serve``); otherwise a scheduler's
    next tick hands the new execution out."""
    executor: Executor | None = getattr(request.app.state, "executor", None)
    return executor


ExecutorDep = Annotated[Executor | None, Depends(get_executor)]


async def count_manual_run(limiter: RateLimiter, settings: Settings, *, user_id: int) -> None:
    """One "Run now" or retry against the user's ``XTRACK_MANUAL_RUN_LIMIT`` (each spends source
    and LLM calls); RateLimited (429, Retry-After) over it. The API and the pages both call this."""
    await limiter.check(
        "manual-run",
        settings.manual_run_limit,
        user_id=user_id,
        reason=f"You have started the most manual runs and retries allowed ({settings.manual_run_limit}).",
    )


async def retry_failed(
    session: AsyncSession,
    *,
    owner_id: int,
    execution_id: int,
    now: datetime,
    settings: Settings,
    executor: Executor | None,
) -> JobExecution:
    """Retry one of the owner's FAILED executions: a job's run as a new MANUAL run, a playground run
    as a new PLAYGROUND run counted toward the quota (the playground's rule, one layer up)."""
    failed = await executions_service.get_failed(session, owner_id=owner_id, execution_id=execution_id)
    if failed.trigger == Trigger.PLAYGROUND.value:
        return await playground_service.retry(
            session,
            owner_id=owner_id,
            execution_id=execution_id,
            now=now,
            settings=settings,
            executor=executor,
        )
    return await executions_service.retry(
        session, owner_id=owner_id, execution_id=execution_id, now=now, executor=executor, settings=settings
    )


@router.post(
    "/jobs/{job_id}/run",
    response_model=ExecutionRead,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Run a job now",
    responses={**R401, **R403, **R404, **R409, **R429},
)
async def run_job(
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
    user: ActiveUser,
    executor: ExecutorDep,
    job_id: int,
) -> ExecutionRead:
    await count_manual_run(limiter, settings, user_id=user.id)
    execution = await executions_service.run_now(
        session, owner_id=user.id, job_id=job_id, now=utcnow(), executor=executor, settings=settings
    )
    return ExecutionRead.of(executions_service.ExecutionView.of(execution))


@router.get(
    "/jobs/{job_id}/executions",
    response_model=ExecutionPage,
    summary="A job's execution history, newest first",
    responses={**R401, **R404, **R422},
)
async def job_executions(
    session: SessionDep,
    user: CurrentUser,
    job_id: int,
    limit: Annotated[int, Query(ge=1, le=executions_service.HISTORY_MAX_LIMIT)] = (
        executions_service.HISTORY_DEFAULT_LIMIT
    ),
    before: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only executions with a smaller id")
    ] = None,
    status: Annotated[ExecutionStatus | None, Query()] = None,
    trigger: Annotated[Trigger | None, Query()] = None,
) -> Response:
    page = await executions_service.history(
        session, owner_id=user.id, job_id=job_id, limit=limit, before=before, status=status, trigger=trigger
    )
    return json_response(HISTORY_JSON, page)


@router.get(
    "/executions/{execution_id}",
    response_model=ExecutionRead,
    summary="One execution",
    responses={**R401, **R404},
)
async def get_execution(session: SessionDep, user: CurrentUser, execution_id: int) -> ExecutionRead:
    return ExecutionRead.of(
        await executions_service.get_for_owner(session, owner_id=user.id, execution_id=execution_id)
    )


@router.post(
    "/executions/{execution_id}/retry",
    response_model=ExecutionRead,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Retry a FAILED execution (a new execution with retry_of_id)",
    responses={**R401, **R403, **R404, **R409, **R429},
)
async def retry_execution(
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
    user: ActiveUser,
    executor: ExecutorDep,
    execution_id: int,
) -> ExecutionRead:
    await count_manual_run(limiter, settings, user_id=user.id)
    execution = await retry_failed(
        session,
        owner_id=user.id,
        execution_id=execution_id,
        now=utcnow(),
        settings=settings,
        executor=executor,
    )
    return ExecutionRead.of(executions_service.ExecutionView.of(execution))
