"""Administration: the users list (search, status, jobs count) with suspend / activate, and the
post sources paused because their quota is used up, with Resume."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from xtrack.db import utcnow
from xtrack.errors import Conflict
from xtrack.executions import usage as executions_usage
from xtrack.jobs import service as jobs_service
from xtrack.posts import limits as posts_limits
from xtrack.users import service
from xtrack.users.deps import AdminUser
from xtrack.users.models import UserStatus
from xtrack.users.pages import safe_next
from xtrack.web.csrf import CsrfForm
from xtrack.web.deps import SessionDep
from xtrack.web.flash import redirect_with_flash
from xtrack.web.forms import FormStr, QueryText
from xtrack.web.templating import render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 200


@router.get("/admin", response_class=HTMLResponse)
async def admin_users(
    request: Request, admin: AdminUser, session: SessionDep, q: QueryText = "", status: str = ""
) -> Response:
    status = status if status in {s.value for s in UserStatus} else ""
    rows = await jobs_service.list_users_with_job_counts(
        session, search=q or None, status=status or None, limit=PAGE_SIZE + 1
    )
    spenders = await executions_usage.instance_month_by_user(session, now=utcnow())
    query = urlencode({k: v for k, v in {"q": q, "status": status}.items() if v})
    context = {
        "rows": rows[:PAGE_SIZE],
        "truncated": len(rows) > PAGE_SIZE,
        "q": q,
        "status": status,
        "statuses": [s.value for s in UserStatus],
        "return_to": "/admin" + (f"?{query}" if query else ""),
        "paused_sources": await posts_limits.source_pauses(session, now=utcnow()),
        "spenders": spenders,
        "spend_total": executions_usage.totals(spenders),
        "instance_budget": request.app.state.settings.monthly_budget_usd,
    }
    return render(request, "admin/users.html", context)


@router.post("/admin/users/{user_id}/suspend")
async def admin_suspend(
    request: Request,
    user_id: int,
    admin: AdminUser,
    session: SessionDep,
    _csrf: CsrfForm,
    return_to: FormStr = "/admin",
) -> Response:
    target = await service.get(session, user_id)
    back = safe_next(return_to, "/admin")
    try:
        await service.suspend(session, user=target, by=admin)
    except Conflict as exc:
        return redirect_with_flash(request, back, exc.message, kind="error")
    return redirect_with_flash(request, back, f"{target.email} is suspended and signed out everywhere.")


@router.post("/admin/users/{user_id}/activate")
async def admin_activate(
    request: Request,
    user_id: int,
    admin: AdminUser,
    session: SessionDep,
    _csrf: CsrfForm,
    return_to: FormStr = "/admin",
) -> Response:
    target = await service.get(session, user_id)
    await service.activate(session, user=target)
    return redirect_with_flash(request, safe_next(return_to, "/admin"), f"{target.email} is active.")


@router.post("/admin/sources/{name}/resume")
async def admin_resume_source(
    request: Request, name: str, admin: AdminUser, session: SessionDep, _csrf: CsrfForm
) -> Response:
    """Let every process call a paused source again (after its credits were topped up)."""
    if not await posts_limits.resume_source(session, name, now=utcnow()):
        return redirect_with_flash(request, "/admin", f"{name} is not paused.", kind="error")
    return redirect_with_flash(request, "/admin", f"{name} resumed: the next runs call it again.")
