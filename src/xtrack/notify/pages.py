"""Notification pages: the targets list (add, edit, delete with confirmation, send a test), a job's
target selection with its delivery history, and the unsubscribe page of email links.

Thin routes over ``notify.targets``, ``notify.deliveries`` and ``notify.subscriptions``; another
user's target or job is the 404 page; forms are validated with the API's schemas (422 with the input
kept) and follow Post/Redirect/Get. The unsubscribe link needs no sign-in: its signed token names
the target and the job; the GET only shows what the button will do (mail scanners open links), the
POST changes it.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from xtrack.db import MAX_ID, utcnow
from xtrack.errors import RateLimited, XTrackError
from xtrack.notify import deliveries as delivery_history
from xtrack.notify import links, subscriptions, targets
from xtrack.notify.models import TargetKind
from xtrack.notify.schemas import JobTargetsUpdate, TargetCreate, TargetUpdate
from xtrack.ratelimit import RateLimiterDep, client_ip
from xtrack.users.deps import ActiveUser, CurrentUser, OptionalUser
from xtrack.users.models import User, UserStatus
from xtrack.web.csrf import CsrfForm
from xtrack.web.deps import SessionDep, SettingsDep, database_of
from xtrack.web.flash import redirect_with_flash
from xtrack.web.forms import FormStr, error_of, field_errors
from xtrack.web.templating import render

router = APIRouter(include_in_schema=False)

FIELD_LABELS = {"kind": "Kind", "name": "Name", "url": "Apprise URL", "email": "Email address"}
JOB_FIELD_LABELS = {
    "target_ids": "Targets",
    "notify_on_failure": "Failure notices",
    "failure_threshold": "After",
}
HISTORY_LIMIT = 20


async def _targets_page(
    request: Request,
    session: SessionDep,
    user: User,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    views = await targets.list_targets(session, user=user)
    has_email = any(v.target.kind == TargetKind.EMAIL.value for v in views)
    context: dict[str, Any] = {
        "targets": views,
        "has_email_target": has_email,
        "form": form or {"kind": "apprise", "name": "", "url": ""},
        "errors": errors or {},
        "can_write": user.status == UserStatus.ACTIVE.value,
        "max_targets": targets.MAX_TARGETS_PER_USER,
    }
    return render(request, "notify/targets.html", context, status_code=status_code)


@router.get("/targets", response_class=HTMLResponse)
async def targets_page(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    return await _targets_page(request, session, user)


@router.post("/targets", response_class=HTMLResponse)
async def create_target(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: ActiveUser,
    _csrf: CsrfForm,
    kind: FormStr = "apprise",
    name: FormStr = "",
    url: FormStr = "",
) -> Response:
    form = {"kind": kind, "name": name, "url": ""}  # a rejected URL is not echoed back: it may hold secrets
    try:
        data = TargetCreate(
            kind=kind,
            name=name or ("My email" if kind == TargetKind.EMAIL.value else ""),
            url=url if kind == TargetKind.APPRISE.value else None,
        )
    except ValidationError as exc:
        errors = field_errors(exc, labels=FIELD_LABELS)
        return await _targets_page(request, session, user, form=form, errors=errors, status_code=422)
    try:
        target = await targets.create_target(session, user=user, data=data, settings=settings, now=utcnow())
    except XTrackError as exc:
        return await _targets_page(
            request, session, user, form=form, errors=error_of(exc), status_code=exc.status_code
        )
    return redirect_with_flash(
        request, "/targets", f"Target “{target.name}” added. Choose it on a job's page to get notified."
    )


async def _edit_page(
    request: Request,
    session: SessionDep,
    user: User,
    target_id: int,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    view = await targets.target_view(session, user=user, target_id=target_id)
    deliveries = await delivery_history.deliveries_for_target(
        session, user=user, target_id=target_id, limit=HISTORY_LIMIT
    )
    context: dict[str, Any] = {
        "view": view,
        "target": view.target,
        "form": form or {"name": view.target.name, "is_enabled": view.target.is_enabled},
        "errors": errors or {},
        "deliveries": deliveries,
        "can_write": user.status == UserStatus.ACTIVE.value,
    }
    return render(request, "notify/target_edit.html", context, status_code=status_code)


@router.get("/targets/{target_id}/edit", response_class=HTMLResponse)
async def edit_target_form(
    request: Request, session: SessionDep, user: CurrentUser, target_id: int
) -> Response:
    return await _edit_page(request, session, user, target_id)


@router.post("/targets/{target_id}/edit", response_class=HTMLResponse)
async def edit_target(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: ActiveUser,
    _csrf: CsrfForm,
    target_id: int,
    name: FormStr = "",
    url: FormStr = "",
    is_enabled: FormStr = "",
) -> Response:
    target = await targets.get_target(session, user_id=user.id, target_id=target_id)
    form = {"name": name, "is_enabled": bool(is_enabled)}
    try:
        data = TargetUpdate(
            name=name,
            url=(url.strip() or None) if target.kind == TargetKind.APPRISE.value else None,
            is_enabled=bool(is_enabled),
        )
        await targets.update_target(
            session, user=user, target_id=target_id, data=data, settings=settings, now=utcnow()
        )
    except ValidationError as exc:
        errors = field_errors(exc, labels=FIELD_LABELS)
        return await _edit_page(request, session, user, target_id, form=form, errors=errors, status_code=422)
    except XTrackError as exc:
        return await _edit_page(
            request, session, user, target_id, form=form, errors=error_of(exc), status_code=exc.status_code
        )
    return redirect_with_flash(request, "/targets", f"Target “{data.name}” saved.")


@router.get("/targets/{target_id}/delete", response_class=HTMLResponse)
async def delete_target_confirm(
    request: Request, session: SessionDep, user: CurrentUser, target_id: int
) -> Response:
    view = await targets.target_view(session, user=user, target_id=target_id)
    usage = await targets.target_usage(session, user=user, target_id=target_id)
    context = {"view": view, "usage": usage, "can_write": user.status == UserStatus.ACTIVE.value}
    return render(request, "notify/target_delete.html", context)


@router.post("/targets/{target_id}/delete")
async def delete_target(
    request: Request, session: SessionDep, user: ActiveUser, _csrf: CsrfForm, target_id: int
) -> Response:
    target = await targets.get_target(session, user_id=user.id, target_id=target_id)
    name = target.name
    await targets.delete_target(session, user=user, target_id=target_id)
    return redirect_with_flash(request, "/targets", f"Target “{name}” deleted.", kind="info")


@router.post("/targets/{target_id}/test")
async def test_target(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: ActiveUser,
    _csrf: CsrfForm,
    limiter: RateLimiterDep,
    target_id: int,
) -> Response:
    target = await targets.get_target(session, user_id=user.id, target_id=target_id)
    name = target.name
    try:
        await limiter.check(
            "notify-test", settings.notify_test_rate_limit, ip=client_ip(request), email=user.email
        )
    except RateLimited as exc:
        return redirect_with_flash(request, "/targets", exc.message, kind="error")
    await session.commit()  # end this request's unit of work: no transaction stays open during the send
    delivery = await targets.send_test(
        database_of(request), user_id=user.id, target_id=target_id, settings=settings, now=utcnow()
    )
    if delivery.last_error:
        return redirect_with_flash(
            request, "/targets", f"Test to “{name}” failed: {delivery.last_error}", kind="error"
        )
    return redirect_with_flash(request, "/targets", f"Test sent to “{name}”. Check that it arrived.")


# A job's targets ---------------------------------------------------------------------------------


async def _job_targets_page(
    request: Request,
    session: SessionDep,
    user: User,
    job_id: int,
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    before: int | None = None,
) -> HTMLResponse:
    view = await targets.job_targets(session, user=user, job_id=job_id)
    # One more than a page: whether there are older ones.
    deliveries = await delivery_history.deliveries_for_job(
        session, user=user, job_id=job_id, limit=HISTORY_LIMIT + 1, before_id=before
    )
    older_url = None
    if len(deliveries) > HISTORY_LIMIT:
        deliveries = deliveries[:HISTORY_LIMIT]
        older_url = _deliveries_url(job_id, deliveries[-1].delivery.id)
    newer_url = None
    if before is not None:
        newer = await delivery_history.newer_deliveries_before(
            session, user=user, job_id=job_id, before=before, limit=HISTORY_LIMIT
        )
        newer_url = _deliveries_url(job_id, newer)
    context: dict[str, Any] = {
        "job": view.job,
        "job_targets": view,
        "deliveries": deliveries,
        "before": before,
        "older_url": older_url,
        "newer_url": newer_url,
        "errors": errors or {},
        "can_write": user.status == UserStatus.ACTIVE.value,
    }
    return render(request, "notify/job_targets.html", context, status_code=status_code)


def _deliveries_url(job_id: int, before: int | None) -> str:
    query = f"?before={before}" if before is not None else ""
    return f"/jobs/{job_id}/targets{query}#deliveries-title"


@router.get("/jobs/{job_id}/targets", response_class=HTMLResponse)
async def job_targets_form(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    job_id: int,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    return await _job_targets_page(request, session, user, job_id, before=before)


@router.post("/jobs/{job_id}/targets", response_class=HTMLResponse)
async def job_targets_submit(
    request: Request,
    session: SessionDep,
    user: ActiveUser,
    _csrf: CsrfForm,
    job_id: int,
    target_ids: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies form defaults
    notify_on_failure: FormStr = "",
    failure_threshold: FormStr = "3",
) -> Response:
    try:
        data = JobTargetsUpdate(
            target_ids=[int(value) for value in target_ids if value.strip().isdigit()],
            notify_on_failure=bool(notify_on_failure),
            failure_threshold=failure_threshold.strip() or 3,
        )
        await targets.set_job_targets(session, user=user, job_id=job_id, data=data, now=utcnow())
    except ValidationError as exc:
        errors = field_errors(exc, labels=JOB_FIELD_LABELS)
        return await _job_targets_page(request, session, user, job_id, errors=errors, status_code=422)
    except XTrackError as exc:
        if exc.status_code == 404:
            raise
        return await _job_targets_page(
            request, session, user, job_id, errors=error_of(exc), status_code=exc.status_code
        )
    return redirect_with_flash(request, f"/jobs/{job_id}/targets", "Notification settings saved.")


# Unsubscribe (from an email or chat message; no sign-in) ------------------------------------------


async def _unsubscribe_page(
    request: Request, session: SessionDep, settings: SettingsDep, token: str
) -> HTMLResponse:
    try:
        current = await subscriptions.subscription(session, settings=settings, token=token)
    except links.InvalidUnsubscribeToken as exc:
        context = {"error": str(exc)}
        return render(request, "notify/unsubscribe.html", context, status_code=400)
    return render(request, "notify/unsubscribe.html", {"sub": current, "token": token, "error": None})


@router.get("/unsubscribe", response_class=HTMLResponse)
async def unsubscribe_form(
    request: Request, session: SessionDep, settings: SettingsDep, _user: OptionalUser, token: str = ""
) -> Response:
    return await _unsubscribe_page(request, session, settings, token)


@router.post("/unsubscribe", response_class=HTMLResponse)
async def unsubscribe_submit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    _user: OptionalUser,
    _csrf: CsrfForm,
    token: FormStr = "",
) -> Response:
    try:
        done = await subscriptions.unsubscribe(session, settings=settings, token=token, now=utcnow())
    except links.InvalidUnsubscribeToken as exc:
        return render(request, "notify/unsubscribe.html", {"error": str(exc)}, status_code=400)
    message = "Unsubscribed: nothing more will be sent there for this job."
    if done.x_username and done.target_name:
        message = f"Unsubscribed: “{done.target_name}” gets nothing more about @{done.x_username}."
    return redirect_with_flash(request, f"/unsubscribe?token={quote(token)}", message)
