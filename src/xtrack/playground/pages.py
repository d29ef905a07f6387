"""Playground pages: the form (with the quota left), a run's live progress and result, the user's
history, and "save as job". Thin routes over ``playground.service``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from xtrack.config import Settings
from xtrack.db import utcnow
from xtrack.errors import XTrackError
from xtrack.executions.router import ExecutorDep
from xtrack.jobs.form_pages import DEFAULT_FREQUENCY
from xtrack.jobs.pages import frequency_choices, language_choices
from xtrack.jobs.schemas import split_handles
from xtrack.playground import history as playground_history
from xtrack.playground import service as playground_service
from xtrack.playground.schemas import MAX_HOURS_BACK, PlaygroundRunCreate
from xtrack.users.deps import ActiveUser, CurrentUser
from xtrack.users.models import User, UserStatus
from xtrack.web import live
from xtrack.web.csrf import CsrfForm
from xtrack.web.deps import SessionDep, SettingsDep
from xtrack.web.flash import redirect_with_flash
from xtrack.web.forms import FormLines, FormStr, error_of, field_errors, split_list
from xtrack.web.templating import render

router = APIRouter(include_in_schema=False)


HISTORY_PER_PAGE = 20
FIELD_LABELS = {
    "x_username": "Account",
    "more_accounts": "More accounts",
    "topics": "Topics",
    "hours_back": "Hours back",
    "language": "Summary language",
}
REQUIRED_MESSAGES = {"x_username": "Enter the X account to read, e.g. @alice."}
DEFAULT_FORM = {"x_username": "", "more_accounts": "", "topics": "", "hours_back": "24", "language": "en"}


def _validate(form: dict[str, str]) -> tuple[PlaygroundRunCreate | None, dict[str, str]]:
    errors: dict[str, str] = {}
    if not form["x_username"].strip().removeprefix("@") and not split_handles(form.get("more_accounts", "")):
        errors["x_username"] = REQUIRED_MESSAGES["x_username"]
    hours = form["hours_back"].strip() or "24"
    if not hours.isdigit() or not 1 <= int(hours) <= MAX_HOURS_BACK:
        errors["hours_back"] = (
            f"Hours back: enter a whole number of hours from 1 to {MAX_HOURS_BACK} (a week)."
        )
    more = split_handles(form.get("more_accounts", ""))
    values: dict[str, object] = {
        "x_username": form["x_username"],
        "topics": split_list(form["topics"]),
        "hours_back": int(hours) if hours.isdigit() else 24,
        "language": form["language"] or "en",
        "confirm_cost": form.get("confirm_cost") == "1",
    }
    if more:  # a briefing to try: the first account, then the pasted ones
        values["accounts"] = [form["x_username"].strip(), *more] if form["x_username"].strip() else more
    try:
        data = PlaygroundRunCreate.model_validate(values)
    except ValidationError as exc:
        labels = {**FIELD_LABELS, "accounts": "Accounts"}
        for name, message in field_errors(exc, labels=labels, required=REQUIRED_MESSAGES).items():
            errors.setdefault("more_accounts" if name == "accounts" else name, message)
        return None, errors
    return (None, errors) if errors else (data, {})


async def _quota(session: SessionDep, user: User, settings: Settings, now: datetime) -> dict[str, int]:
    """The rolling 24-hour quota: how many runs were used and how many are left."""
    used = await playground_service.runs_today(session, user_id=user.id, now=now)
    total = settings.playground_daily_quota
    return {"used": used, "total": total, "left": max(0, total - used)}


def _history_url(before: int | None, *, path: str = "/playground", anchor: bool = True) -> str:
    query = urlencode({"before": before}) if before is not None else ""
    return path + (f"?{query}" if query else "") + ("#history" if anchor else "")


async def _history_context(
    session: SessionDep, user: User, before: int | None, now: datetime
) -> dict[str, Any]:
    page = await playground_history.history(session, user=user, limit=HISTORY_PER_PAGE, before=before)
    newer_url = None
    if before is not None:
        newer = await playground_history.newer_before(
            session, user=user, before=before, limit=HISTORY_PER_PAGE
        )
        newer_url = _history_url(newer)
    return {
        "runs": page.items,
        "before": before,
        "newer_url": newer_url,
        "older_url": _history_url(page.next_before) if page.next_before is not None else None,
        "history_active": any(run.is_active for run in page.items),
        "can_write": user.status == UserStatus.ACTIVE.value,
        "now": now,
    }


async def _playground_page(
    request: Request,
    session: SessionDep,
    settings: Settings,
    user: User,
    *,
    form: dict[str, str],
    errors: dict[str, str],
    before: int | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    now = utcnow()
    context = await _history_context(session, user, before, now)
    context.update(
        {
            "form": form,
            "errors": errors,
            "quota": await _quota(session, user, settings, now),
            "languages": language_choices(form.get("language")),
            "max_hours": MAX_HOURS_BACK,
            "poll_url": _history_url(before, path="/playground/poll", anchor=False),
        }
    )
    return render(request, "playground/index.html", context, status_code=status_code)


@router.get("/playground", response_class=HTMLResponse)
async def playground(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    before: Annotated[int | None, Query(ge=1)] = None,
    x_username: str = "",
    topics: str = "",
    hours_back: str = "",
    language: str = "",
) -> Response:
    """The form (pre-filled from the query by "Run again") and the history."""
    form = {
        "x_username": x_username[:32],
        "more_accounts": "",
        "topics": topics[:2000],
        "hours_back": hours_back[:4] or DEFAULT_FORM["hours_back"],
        "language": language[:35] or DEFAULT_FORM["language"],
    }
    return await _playground_page(request, session, settings, user, form=form, errors={}, before=before)


@router.get("/playground/poll", response_class=HTMLResponse)
async def playground_poll(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """The history table while one of its runs is queued or running; 204 when unchanged."""
    context = await _history_context(session, user, before, utcnow())
    return live.poll_response(request, "playground/_history.html", context, active=context["history_active"])


@router.post("/playground", response_class=HTMLResponse)
async def start_run(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: ActiveUser,
    _csrf: CsrfForm,
    executor: ExecutorDep,
    x_username: FormStr = "",
    more_accounts: FormLines = "",
    topics: FormLines = "",
    hours_back: FormStr = "",
    language: FormStr = "",
    confirm_cost: FormStr = "",
) -> Response:
    form = {"x_username": x_username, "topics": topics, "hours_back": hours_back, "language": language}
    form["more_accounts"] = more_accounts
    form["confirm_cost"] = confirm_cost
    data, errors = _validate(form)
    if data is None:
        return await _playground_page(
            request, session, settings, user, form=form, errors=errors, status_code=422
        )
    try:
        execution = await playground_service.create_run(
            session, user=user, data=data, now=utcnow(), settings=settings, executor=executor
        )
    except XTrackError as exc:
        response = await _playground_page(
            request, session, settings, user, form=form, errors=error_of(exc), status_code=exc.status_code
        )
        if exc.retry_after is not None:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    return redirect_with_flash(
        request,
        f"/playground/runs/{execution.id}",
        f"Playground run #{execution.id} started for @{data.x_username}"
        + (f" and {len(data.accounts) - 1} more." if data.accounts and len(data.accounts) > 1 else "."),
    )


def _run_context(run: playground_history.PlaygroundRun, user: User, settings: Settings) -> dict[str, Any]:
    again = {
        "x_username": run.x_username,
        "topics": ", ".join(run.topics),
        "hours_back": str(run.hours_back),
        "language": run.language,
    }
    return {
        "run": run,
        "active": run.is_active,
        "max_attempts": settings.max_attempts,
        "frequencies": frequency_choices(),
        "default_frequency": DEFAULT_FREQUENCY,
        "again_url": "/playground?" + urlencode(again),
        "can_write": user.status == UserStatus.ACTIVE.value,
        "now": utcnow(),
    }


@router.get("/playground/runs/{run_id}", response_class=HTMLResponse)
async def run_page(
    request: Request, session: SessionDep, settings: SettingsDep, user: CurrentUser, run_id: int
) -> Response:
    run = await playground_history.get_run(session, user=user, run_id=run_id)
    return render(request, "playground/run.html", _run_context(run, user, settings))


@router.get("/playground/runs/{run_id}/poll", response_class=HTMLResponse)
async def run_poll(
    request: Request, session: SessionDep, settings: SettingsDep, user: CurrentUser, run_id: int
) -> Response:
    """The run's progress and, once done, its result; 204 when unchanged."""
    run = await playground_history.get_run(session, user=user, run_id=run_id)
    context = _run_context(run, user, settings)
    return live.poll_response(request, "playground/_run.html", context, active=run.is_active)


@router.post("/playground/runs/{run_id}/save")
async def save_as_job(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: ActiveUser,
    _csrf: CsrfForm,
    run_id: int,
    frequency: FormStr = "",
) -> Response:
    try:
        job = await playground_service.save_as_job(
            session,
            user=user,
            run_id=run_id,
            frequency=frequency or DEFAULT_FREQUENCY,
            now=utcnow(),
            settings=settings,
        )
    except XTrackError as exc:
        if exc.status_code == 404:
            raise
        return redirect_with_flash(request, f"/playground/runs/{run_id}", exc.message, kind="error")
    return redirect_with_flash(
        request, f"/jobs/{job.id}", f"Saved as a job: @{job.x_username} now runs on a schedule."
    )
