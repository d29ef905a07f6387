"""The account page: time zone and theme, password change, personal API tokens, Atom feeds.

Forms are validated on the server (422 with the input kept), protected by CSRF, and follow
Post/Redirect/Get with a flash, as the sign-in pages (``users.pages``) do.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from xtrack.config import Settings
from xtrack.db import utcnow
from xtrack.errors import Invalid, RateLimited
from xtrack.executions import budget as executions_budget
from xtrack.executions import usage as executions_usage
from xtrack.ratelimit import RateLimiterDep, client_ip
from xtrack.summaries import feeds
from xtrack.users import auth, service
from xtrack.users.deps import CurrentUser
from xtrack.users.models import BudgetAction, Theme, User
from xtrack.users.pages import field_error, render_page
from xtrack.users.schemas import UserUpdate
from xtrack.web.csrf import CsrfForm
from xtrack.web.deps import SessionDep, SettingsDep
from xtrack.web.flash import redirect_with_flash
from xtrack.web.forms import FormStr, field_errors

router = APIRouter(include_in_schema=False)


# Account -------------------------------------------------------------------------------------------


async def _feed_rows(
    session: SessionDep, user: User, *, signing_key: str, base_url: str
) -> list[dict[str, Any]]:
    """The user's feeds with their addresses (None for a feed whose address was shown once only)."""
    rows = []
    for token in await feeds.list_tokens(session, user_id=user.id):
        plain = feeds.address_token(token, signing_key)
        rows.append(
            {
                "token": token,
                "url": feeds.feed_url(base_url, plain) if plain else None,
                "job_url": feeds.feed_url(base_url, plain, job_id=0).replace("/0.atom", "/JOB_ID.atom")
                if plain
                else None,
            }
        )
    return rows


async def _account_page(
    request: Request,
    session: SessionDep,
    user: User,
    *,
    status_code: int = 200,
    retry_after: int | None = None,
    **extra: Any,
) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    context: dict[str, Any] = {
        "tokens": await service.list_api_tokens(session, user=user),
        "feeds": await _feed_rows(
            session, user, signing_key=settings.signing_key(), base_url=settings.base_url
        ),
        "timezones": sorted(service.timezone_names()),
        "themes": [(t.value, t.value.capitalize()) for t in Theme],
        "settings_form": {"timezone": user.timezone, "theme": user.theme},
        "settings_errors": {},
        "password_errors": {},
        "token_errors": {},
        "token_form": {},
        "new_token": None,
    }
    context.update(extra)
    return render_page(
        request, "users/account.html", context, status_code=status_code, retry_after=retry_after
    )


@router.get("/account", response_class=HTMLResponse)
async def account(request: Request, user: CurrentUser, session: SessionDep) -> Response:
    return await _account_page(request, session, user)


BUDGET_LABELS = {"monthly_budget_usd": "Monthly budget", "budget_action": "When it is spent"}
BUDGET_MESSAGES = {
    "monthly_budget_usd": "Monthly budget: enter 0 or more US dollars, such as 5 or 12.50 "
    "(up to 1,000,000), or leave it empty for no limit.",
    "budget_action": "When it is spent: choose summarize offline or pause runs.",
}


def _budget_form(user: User) -> dict[str, str]:
    limit = user.monthly_budget_usd
    amount = "" if limit is None else format(limit, "f").rstrip("0").rstrip(".")
    return {"monthly_budget_usd": amount, "budget_action": user.budget_action}


async def _usage_page(
    request: Request, session: SessionDep, user: User, *, status_code: int = 200, **extra: Any
) -> HTMLResponse:
    """The month's spend by job and by kind, the budget and its form."""
    settings: Settings = request.app.state.settings
    now = utcnow()
    rows = await executions_usage.user_month_by_job(session, user=user, now=now)
    budget = await executions_budget.for_user(session, user=user, settings=settings, now=now)
    month_start, resets_at = executions_budget.month_bounds(now, user.timezone)
    context: dict[str, Any] = {
        "rows": rows,
        "total": executions_usage.totals(rows),
        "budget": budget,
        "month_start": month_start,
        "resets_at": resets_at,
        "budget_form": _budget_form(user),
        "budget_errors": {},
        "budget_actions": [
            (BudgetAction.OFFLINE.value, "Keep running, summarize offline (no LLM tokens)"),
            (BudgetAction.PAUSE.value, "Pause runs until the month resets"),
        ],
    }
    context.update(extra)
    return render_page(request, "users/usage.html", context, status_code=status_code)


@router.get("/account/usage", response_class=HTMLResponse)
async def account_usage(request: Request, user: CurrentUser, session: SessionDep) -> Response:
    return await _usage_page(request, session, user)


def _form_amount(text: str) -> float | str | None:
    """The form's amount as the API takes it (a JSON number, or null for no limit): "$12.50" is
    12.5; text that is no number stays text, so the validation names the field."""
    cleaned = text.strip().removeprefix("$").strip()
    if not cleaned:
        return None
    try:
        return float(cleaned)
    except ValueError:
        return cleaned


@router.post("/account/usage/budget", response_class=HTMLResponse)
async def account_budget(
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    _csrf: CsrfForm,
    monthly_budget_usd: FormStr = "",
    budget_action: FormStr = "",
) -> Response:
    """The budget form: the same rules as ``PATCH /api/v1/me`` (empty: no limit)."""
    form = {"monthly_budget_usd": monthly_budget_usd, "budget_action": budget_action}
    try:
        data = UserUpdate.model_validate(
            {
                "monthly_budget_usd": _form_amount(monthly_budget_usd),
                "budget_action": budget_action,
            }
        )
    except ValidationError as exc:
        errors = {
            name: BUDGET_MESSAGES.get(name, message)
            for name, message in field_errors(exc, labels=BUDGET_LABELS).items()
        }
        return await _usage_page(
            request, session, user, status_code=422, budget_form=form, budget_errors=errors
        )
    action = data.budget_action.value if data.budget_action is not None else user.budget_action
    await service.update_budget(
        session, user=user, monthly_budget_usd=data.monthly_budget_usd, budget_action=action
    )
    limit = "no limit" if data.monthly_budget_usd is None else f"${data.monthly_budget_usd:.2f} a month"
    return redirect_with_flash(request, "/account/usage", f"Budget saved: {limit}.")


@router.post("/account/settings", response_class=HTMLResponse)
async def account_settings(
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    _csrf: CsrfForm,
    timezone: FormStr = "",
    theme: FormStr = "",
) -> Response:
    try:
        service.check_timezone(timezone)
        service.check_theme(theme)
    except Invalid as exc:
        form = {"timezone": timezone, "theme": theme}
        return await _account_page(
            request, session, user, status_code=422, settings_form=form, settings_errors=field_error(exc)
        )
    await service.update_settings(session, user=user, timezone=timezone, theme=theme)
    return redirect_with_flash(request, "/account", "Settings saved.")


@router.post("/account/password", response_class=HTMLResponse)
async def account_password(
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
    _csrf: CsrfForm,
    current_password: FormStr = "",
    new_password: FormStr = "",
) -> Response:
    try:
        await limiter.check_signin(settings, email=user.email, ip=client_ip(request))
        await service.change_password(
            session,
            user=user,
            current_password=current_password,
            new_password=new_password,
            keep_session=request.cookies.get(auth.SESSION_COOKIE),
            settings=settings,
        )
    except (Invalid, RateLimited) as exc:
        return await _account_page(
            request,
            session,
            user,
            status_code=exc.status_code,
            retry_after=exc.retry_after,
            password_errors=field_error(exc),
        )
    return redirect_with_flash(request, "/account", "Password changed. Your other devices were signed out.")


@router.post("/account/tokens", response_class=HTMLResponse)
async def account_token_create(
    request: Request, user: CurrentUser, session: SessionDep, _csrf: CsrfForm, name: FormStr = ""
) -> Response:
    try:
        token, plain = await service.create_api_token(session, user=user, name=name, now=utcnow())
    except Invalid as exc:
        return await _account_page(
            request, session, user, status_code=422, token_form={"name": name}, token_errors=field_error(exc)
        )
    # Shown in this response only (not through a redirect): the value is never stored anywhere.
    return await _account_page(request, session, user, new_token={"name": token.name, "value": plain})


@router.post("/account/tokens/{token_id}/revoke")
async def account_token_revoke(
    request: Request, token_id: int, user: CurrentUser, session: SessionDep, _csrf: CsrfForm
) -> Response:
    await service.revoke_api_token(session, user=user, token_id=token_id)
    return redirect_with_flash(request, "/account", "API token revoked.", kind="info")


@router.post("/account/feeds")
async def account_feed_create(
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    _csrf: CsrfForm,
    name: FormStr = "",
) -> Response:
    token, _plain = await feeds.create_token(
        session, user=user, name=name[:100], signing_key=settings.signing_key(), now=utcnow()
    )
    return redirect_with_flash(
        request, "/account#account-feeds", f"Feed “{token.name}” created: copy its address."
    )


@router.post("/account/feeds/{feed_id}/revoke")
async def account_feed_revoke(
    request: Request, feed_id: int, user: CurrentUser, session: SessionDep, _csrf: CsrfForm
) -> Response:
    await feeds.revoke(session, user_id=user.id, feed_id=feed_id)
    return redirect_with_flash(
        request, "/account#account-feeds", "Feed revoked: its addresses no longer work.", kind="info"
    )
