"""Pages that belong to no feature package: the landing page, and the dashboard of a signed-in user."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from xtrack.db import utcnow
from xtrack.executions import overview as executions_overview
from xtrack.jobs import service as jobs_service
from xtrack.jobs.pages import is_live
from xtrack.users.deps import CurrentUser, OptionalUser
from xtrack.users.models import User
from xtrack.web import live
from xtrack.web.deps import SessionDep
from xtrack.web.templating import render

router = APIRouter(include_in_schema=False)


async def _dashboard(session: SessionDep, user: User, now: datetime) -> dict[str, Any]:
    jobs = await executions_overview.overview_for_owner(session, owner_id=user.id)
    accounts = await jobs_service.accounts_of(session, [item.job.id for item in jobs])  # one query
    return {
        "jobs": jobs,
        "account_counts": {job_id: len(names) for job_id, names in accounts.items()},
        "schedule_label": jobs_service.schedule_label,
        "failing": sum(1 for item in jobs if item.is_failing),
        "live": any(is_live(item, now) for item in jobs),
        "now": now,
    }


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, session: SessionDep, user: OptionalUser) -> Response:
    """The landing page for visitors; the dashboard (one row per job) once signed in."""
    if user is None:
        return render(request, "home.html")
    return render(request, "dashboard.html", await _dashboard(session, user, utcnow()))


@router.get("/dashboard/poll", response_class=HTMLResponse)
async def dashboard_poll(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    """The dashboard's jobs table while a run is queued or running; 204 when unchanged."""
    context = await _dashboard(session, user, utcnow())
    return live.poll_response(request, "_dashboard_jobs.html", context, active=context["live"])
