"""Sign-in pages: register, sign in/out, email links, password reset (the account page:
``account_pages``).

Forms are validated on the server (422 with the input kept), protected by CSRF, and follow
Post/Redirect/Get with a flash. Links from emails (verify, reset, sign-in) open a page with one
button: a GET never uses the token up, so a mail scanner opening the link does no harm.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from xtrack.config import Settings
from xtrack.db import utcnow
from xtrack.errors import Forbidden, Invalid, RateLimited, Unauthorized, XTrackError
from xtrack.ratelimit import RateLimiterDep, client_ip
from xtrack.users import auth, email_links, service
from xtrack.users.deps import CurrentUser, OptionalUser
from xtrack.users.models import EmailTokenPurpose, User, UserStatus
from xtrack.web.csrf import CsrfForm
from xtrack.web.deps import SessionDep, SettingsDep
from xtrack.web.flash import redirect_with_flash
from xtrack.web.forms import FormStr
from xtrack.web.templating import render

router = APIRouter(include_in_schema=False)


def safe_next(value: str | None, default: str = "/") -> str:
    """Only a path on this site (``/jobs?x=1``): never another host, scheme or ``//host``."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or any(c in value for c in "\r\n\t\\"):
        return default
    return value


def set_session_cookie(response: Response, value: str, settings: Settings) -> None:
    response.set_cookie(
        auth.SESSION_COOKIE,
        value,
        max_age=settings.session_max_days * 24 * 3600,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        path="/",
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        auth.SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=settings.secure_cookies
    )


def render_page(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
    retry_after: int | None = None,
) -> HTMLResponse:
    response = render(request, template, context, status_code=status_code)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def field_error(exc: XTrackError) -> dict[str, str]:
    return {exc.field or "__all__": exc.message}


async def _sign_in(
    request: Request, response: Response, session: SessionDep, settings: Settings, user: User
) -> None:
    """Replace any session this browser had with a new one for ``user``."""
    if old := request.cookies.get(auth.SESSION_COOKIE):
        await auth.end_web_session(session, old)
    cookie = await service.start_web_session(
        session,
        user=user,
        now=utcnow(),
        user_agent=request.headers.get("user-agent"),
        settings=settings,
    )
    set_session_cookie(response, cookie, settings)


# Register ------------------------------------------------------------------------------------------


@router.get("/register", response_class=HTMLResponse)
async def register_form(request: Request, user: OptionalUser) -> Response:
    if user is not None:
        return RedirectResponse("/", status_code=303)
    return render_page(request, "users/register.html", {"form": {}, "errors": {}})


@router.post("/register", response_class=HTMLResponse)
async def register_submit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
    _csrf: CsrfForm,
    email: FormStr = "",
    password: FormStr = "",
    timezone: FormStr = "",
) -> Response:
    form = {"email": email}
    errors: dict[str, str] = {}
    try:
        normalized = service.normalize_email(email)
    except Invalid as exc:
        errors.update(field_error(exc))
        normalized = email
    try:
        service.check_password(password, email=normalized)
    except Invalid as exc:
        errors.update(field_error(exc))
    if errors:
        return render_page(request, "users/register.html", {"form": form, "errors": errors}, status_code=422)
    try:
        await limiter.check("register", settings.register_rate_limit, ip=client_ip(request), email=normalized)
        zone = timezone.strip() if timezone.strip() in service.timezone_names() else "UTC"
        await service.register(
            session,
            email=normalized,
            password=password,
            timezone=zone,
            now=utcnow(),
            settings=settings,
        )
    except XTrackError as exc:
        return render_page(
            request,
            "users/register.html",
            {"form": form, "errors": field_error(exc)},
            status_code=exc.status_code,
            retry_after=exc.retry_after,
        )
    # The same answer for a new and an existing address, and no sign-in that would tell them apart.
    message = (
        f"Check your email: we sent a message to {normalized}. "
        "Open its link to confirm the address, then sign in."
    )
    return redirect_with_flash(request, "/signin", message, kind="info")


# Sign in / out -------------------------------------------------------------------------------------


@router.get("/signin", response_class=HTMLResponse)
async def signin_form(request: Request, user: OptionalUser, next: str = "") -> Response:
    if user is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render_page(request, "users/signin.html", {"form": {}, "errors": {}, "next": safe_next(next, "")})


@router.post("/signin", response_class=HTMLResponse)
async def signin_submit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
    _csrf: CsrfForm,
    email: FormStr = "",
    password: FormStr = "",
    next: FormStr = "",
) -> Response:
    form = {"email": email}
    target = safe_next(next, "")
    errors: dict[str, str] = {}
    if not email.strip():
        errors["email"] = "Enter your email address."
    if not password:
        errors["password"] = "Enter your password."
    if errors:
        context = {"form": form, "errors": errors, "next": target}
        return render_page(request, "users/signin.html", context, status_code=422)
    try:
        await limiter.check_signin(settings, email=email, ip=client_ip(request))
        user = await service.authenticate(
            session, email=email, password=password, now=utcnow(), settings=settings
        )
    except (RateLimited, Unauthorized, Forbidden) as exc:
        return render_page(
            request,
            "users/signin.html",
            {"form": form, "errors": {"__all__": exc.message}, "next": target},
            status_code=exc.status_code,
            retry_after=exc.retry_after,
        )
    if user.status == UserStatus.UNVERIFIED.value:
        response = redirect_with_flash(request, "/verify-notice", "You are signed in.", kind="info")
    else:
        response = redirect_with_flash(request, target or "/", "You are signed in.")
    await _sign_in(request, response, session, settings, user)
    return response


@router.post("/signout")
async def signout(request: Request, session: SessionDep, settings: SettingsDep, _csrf: CsrfForm) -> Response:
    if cookie := request.cookies.get(auth.SESSION_COOKIE):
        await auth.end_web_session(session, cookie)
    response = redirect_with_flash(request, "/", "You are signed out.", kind="info")
    clear_session_cookie(response, settings)
    return response


# Email verification --------------------------------------------------------------------------------

_LINK_PAGES: dict[EmailTokenPurpose, dict[str, str]] = {
    EmailTokenPurpose.VERIFY: {
        "title": "Confirm your email address",
        "button": "Confirm my email address",
        "action": "/verify",
        "retry_href": "/verify-notice",
        "retry_label": "Send a new confirmation link",
    },
    EmailTokenPurpose.RESET: {
        "title": "Choose a new password",
        "button": "Change my password",
        "action": "/reset/confirm",
        "retry_href": "/reset",
        "retry_label": "Ask for a new reset link",
    },
    EmailTokenPurpose.LOGIN: {
        "title": "Sign in to XTrack",
        "button": "Sign in",
        "action": "/login-link",
        "retry_href": "/signin",
        "retry_label": "Sign in with your password",
    },
}


def _link_error(request: Request, exc: email_links.InvalidLink) -> HTMLResponse:
    titles = {
        "unknown": "This link is not valid",
        "expired": "This link has expired",
        "used": "This link has already been used",
    }
    context = {
        "title": titles.get(exc.reason, "This link does not work"),
        "message": exc.message,
        "page": _LINK_PAGES[exc.purpose],
    }
    return render_page(request, "users/link_error.html", context, status_code=exc.status_code)


async def _link_confirm_page(
    request: Request, session: SessionDep, token: str, purpose: EmailTokenPurpose
) -> HTMLResponse:
    try:
        _, owner = await email_links.check_email_token(session, token=token, purpose=purpose, now=utcnow())
    except email_links.InvalidLink as exc:
        return _link_error(request, exc)
    context = {"page": _LINK_PAGES[purpose], "token": token, "email": owner.email}
    return render_page(request, "users/confirm_link.html", context)


@router.get("/verify", response_class=HTMLResponse)
async def verify_form(
    request: Request, session: SessionDep, _user: OptionalUser, token: str = ""
) -> Response:
    return await _link_confirm_page(request, session, token, EmailTokenPurpose.VERIFY)


@router.post("/verify")
async def verify_submit(
    request: Request, session: SessionDep, user: OptionalUser, _csrf: CsrfForm, token: FormStr = ""
) -> Response:
    try:
        verified = await service.verify_email(session, token=token, now=utcnow())
    except email_links.InvalidLink as exc:
        return _link_error(request, exc)
    if user is not None and user.id == verified.id:
        return redirect_with_flash(request, "/", "Your email address is confirmed. Welcome to XTrack!")
    return redirect_with_flash(request, "/signin", "Your email address is confirmed. Sign in to continue.")


@router.get("/verify-notice", response_class=HTMLResponse)
async def verify_notice(request: Request, user: CurrentUser) -> Response:
    return render_page(request, "users/verify_notice.html", {"errors": {}})


@router.post("/verify-notice", response_class=HTMLResponse)
async def verify_resend(
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
    _csrf: CsrfForm,
) -> Response:
    if user.status != UserStatus.UNVERIFIED.value:
        return redirect_with_flash(request, "/", "Your email address is already confirmed.", kind="info")
    try:
        await limiter.check("resend", settings.email_rate_limit, ip=client_ip(request), email=user.email)
    except RateLimited as exc:
        context = {"errors": {"__all__": exc.message}}
        return render_page(
            request, "users/verify_notice.html", context, status_code=429, retry_after=exc.retry_after
        )
    await service.resend_verification(session, user=user, now=utcnow(), settings=settings)
    return redirect_with_flash(request, "/verify-notice", f"We sent a new confirmation link to {user.email}.")


# Password reset ------------------------------------------------------------------------------------


@router.get("/reset", response_class=HTMLResponse)
async def reset_form(request: Request, _user: OptionalUser) -> Response:
    return render_page(request, "users/reset_request.html", {"form": {}, "errors": {}})


@router.post("/reset", response_class=HTMLResponse)
async def reset_submit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
    _csrf: CsrfForm,
    email: FormStr = "",
) -> Response:
    form = {"email": email}
    try:
        normalized = service.normalize_email(email)
        await limiter.check("reset", settings.email_rate_limit, ip=client_ip(request), email=normalized)
    except (Invalid, RateLimited) as exc:
        return render_page(
            request,
            "users/reset_request.html",
            {"form": form, "errors": field_error(exc)},
            status_code=exc.status_code,
            retry_after=exc.retry_after,
        )
    await service.request_password_reset(session, email=normalized, now=utcnow(), settings=settings)
    message = (
        f"If an account exists for {normalized}, we sent it a link to choose a new password. "
        "The link works for 1 hour."
    )
    return redirect_with_flash(request, "/signin", message, kind="info")


@router.get("/reset/confirm", response_class=HTMLResponse)
async def reset_confirm_form(
    request: Request, session: SessionDep, _user: OptionalUser, token: str = ""
) -> Response:
    try:
        _, owner = await email_links.check_email_token(
            session, token=token, purpose=EmailTokenPurpose.RESET, now=utcnow()
        )
    except email_links.InvalidLink as exc:
        return _link_error(request, exc)
    return render_page(
        request, "users/reset_confirm.html", {"token": token, "email": owner.email, "errors": {}}
    )


@router.post("/reset/confirm", response_class=HTMLResponse)
async def reset_confirm_submit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    _csrf: CsrfForm,
    token: FormStr = "",
    password: FormStr = "",
) -> Response:
    try:
        user = await service.reset_password(
            session, token=token, password=password, now=utcnow(), settings=settings
        )
    except email_links.InvalidLink as exc:
        return _link_error(request, exc)
    except Invalid as exc:
        _, owner = await email_links.check_email_token(
            session, token=token, purpose=EmailTokenPurpose.RESET, now=utcnow()
        )
        context = {"token": token, "email": owner.email, "errors": field_error(exc)}
        return render_page(request, "users/reset_confirm.html", context, status_code=422)
    response = redirect_with_flash(
        request,
        "/signin",
        f"Your password has been changed and every device signed out. Sign in as {user.email}.",
    )
    clear_session_cookie(response, settings)
    return response


# Single-use sign-in link ---------------------------------------------------------------------------


@router.get("/login-link", response_class=HTMLResponse)
async def login_link_form(
    request: Request, session: SessionDep, _user: OptionalUser, token: str = ""
) -> Response:
    return await _link_confirm_page(request, session, token, EmailTokenPurpose.LOGIN)


@router.post("/login-link")
async def login_link_submit(
    request: Request, session: SessionDep, settings: SettingsDep, _csrf: CsrfForm, token: FormStr = ""
) -> Response:
    try:
        user = await service.use_login_link(session, token=token, now=utcnow())
    except email_links.InvalidLink as exc:
        return _link_error(request, exc)
    response = redirect_with_flash(request, "/", f"You are signed in as {user.email}.")
    await _sign_in(request, response, session, settings, user)
    return response
