"""The execution page (a job's run or a playground run, owner only) with live updates and Retry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from xtrack.config import Settings
from xtrack.db import utcnow
from xtrack.errors import Conflict, RateLimited
from xtrack.executions import service as executions_service
from xtrack.executions.models import ACTIVE_STATUSES, Trigger
from xtrack.executions.router import ExecutorDep, count_manual_run, retry_failed
from xtrack.ratelimit import RateLimiterDep
from xtrack.users.deps import ActiveUser, CurrentUser
from xtrack.users.models import User, UserStatus
from xtrack.web import live
from xtrack.web.csrf import CsrfForm
from xtrack.web.deps import SessionDep, SettingsDep
from xtrack.web.flash import redirect_with_flash
from xtrack.web.templating import render

router = APIRouter(include_in_schema=False)


def run_url(run: executions_service.ExecutionView) -> str:
    """Where a run is shown: playground runs on the playground, job runs on the execution page."""
    if run.trigger == Trigger.PLAYGROUND.value:
        return f"/playground/runs/{run.id}"
    return f"/runs/{run.id}"


def _context(
    run: executions_service.ExecutionView, user: User, settings: Settings, now: datetime
) -> dict[str, Any]:
    params = dict(run.params or {})
    return {
        "run": run,
        "params": params,
        "topics": [str(topic) for topic in params.get("topics") or []],
        "max_attempts": settings.max_attempts,
        "active": run.status in ACTIVE_STATUSES,
        "can_write": user.status == UserStatus.ACTIVE.value,
        "now": now,
    }


@router.get("/runs/{execution_id}", response_class=HTMLResponse)
async def execution_page(
    request: Request, session: SessionDep, settings: SettingsDep, user: CurrentUser, execution_id: int
) -> Response:
    run = await executions_service.get_for_owner(session, owner_id=user.id, execution_id=execution_id)
    return render(request, "executions/run.html", _context(run, user, settings, utcnow()))


@router.get("/runs/{execution_id}/poll", response_class=HTMLResponse)
async def execution_poll(
    request: Request, session: SessionDep, settings: SettingsDep, user: CurrentUser, execution_id: int
) -> Response:
    """The details of the run while it is queued or running; 204 when unchanged."""
    run = await executions_service.get_for_owner(session, owner_id=user.id, execution_id=execution_id)
    context = _context(run, user, settings, utcnow())
    return live.poll_response(request, "executions/_detail.html", context, active=context["active"])


@router.post("/runs/{execution_id}/retry")
async def retry_execution(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: ActiveUser,
    _csrf: CsrfForm,
    limiter: RateLimiterDep,
    executor: ExecutorDep,
    execution_id: int,
) -> Response:
    """A new run repeating a failed one; its page follows the retry live."""
    failed = await executions_service.get_for_owner(session, owner_id=user.id, execution_id=execution_id)
    try:
        await count_manual_run(limiter, settings, user_id=user.id)
        execution = await retry_failed(
            session,
            owner_id=user.id,
            execution_id=execution_id,
            now=utcnow(),
            settings=settings,
            executor=executor,
        )
    except (Conflict, RateLimited) as exc:
        return redirect_with_flash(request, run_url(failed), exc.message, kind="error")
    retried = executions_service.ExecutionView.of(execution)
    return redirect_with_flash(request, run_url(retried), f"Retrying run #{failed.id} as run #{retried.id}.")
