"""CSRF protection for every HTML form.

Every ``<form method="post">`` carries a hidden ``csrf_token``; every page POST route verifies it.

In the template (``csrf_input`` and ``csrf_token`` are Jinja globals)::

    <form method="post" action="/jobs" class="stack">
      {{ csrf_input(request) }}
      ...
    </form>

In the page route, add the ``CsrfForm`` dependency *after* the user dependency, so an anonymous
visitor is sent to the sign-in page rather than shown a CSRF error::

    from xtrack.web.csrf import CsrfForm

    @router.post("/jobs")
    async def create_job(request: Request, user: ActiveUser, _csrf: CsrfForm, ...) -> Response:

A script posting with ``fetch`` sends the token in an ``X-CSRF-Token`` header instead (read it from
a ``<meta name="csrf-token" content="{{ csrf_token(request) }}">`` or a ``data-`` attribute).

How: the token is an HMAC (keyed with the app's secret) of the session cookie, so it is tied to one
sign-in and a page from another site cannot know it. Anonymous forms (sign-in, register, reset) are
bound the same way to a random ``xtrack_csrf`` cookie that ``render()`` sets on first use (a signed
double-submit). A missing or wrong token is a 403 page.

The JSON API: a bearer token needs none of this, since a browser never sends one on its own. But a
browser does send the session cookie, so an unsafe ``/api/v1`` request (POST, PUT, PATCH, DELETE)
authenticated by the cookie must carry this token in ``X-CSRF-Token`` too, or it is a 403
(``require_api_header``, called by ``xtrack.users.deps`` when the cookie is what authenticated).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Annotated

from fastapi import Depends, Request, Response
from markupsafe import Markup

from xtrack.config import Settings
from xtrack.errors import Forbidden
from xtrack.users.auth import SESSION_COOKIE

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
CSRF_COOKIE = "xtrack_csrf"
CSRF_COOKIE_MAX_AGE = 60 * 60 * 24 * 30
_NEW_BINDING = "csrf_new_binding"

CSRF_FAILED = "This form has expired or did not come from XTrack. Go back, reload the page and send it again."


def token_for(binding: str, settings: Settings) -> str:
    """The form token for a session cookie (or anonymous CSRF cookie) value."""
    key = settings.signing_key().encode()
    return hmac.new(key, b"xtrack.csrf:" + binding.encode(), hashlib.sha256).hexdigest()


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _binding(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE) or request.cookies.get(CSRF_COOKIE)


def csrf_token(request: Request) -> str:
    """The token to put in this request's forms; creates the anonymous cookie value when needed."""
    binding = _binding(request) or getattr(request.state, _NEW_BINDING, None)
    if binding is None:
        binding = secrets.token_urlsafe(32)
        setattr(request.state, _NEW_BINDING, binding)
    return token_for(binding, _settings(request))


def csrf_input(request: Request) -> Markup:
    """``<input type="hidden" name="csrf_token" value="...">`` for a form."""
    token = csrf_token(request)  # hex digits only: nothing to escape
    return Markup(f'<input type="hidden" name="{CSRF_FIELD}" value="{token}">')  # noqa: S704


def set_cookie_if_needed(request: Request, response: Response) -> None:
    """Send the anonymous binding cookie when this response's forms were bound to a new one."""
    binding = getattr(request.state, _NEW_BINDING, None)
    if binding is not None:
        response.set_cookie(
            CSRF_COOKIE,
            binding,
            max_age=CSRF_COOKIE_MAX_AGE,
            httponly=True,
            samesite="lax",
            secure=_settings(request).secure_cookies,
            path="/",
        )


async def verify_csrf(request: Request) -> None:
    """Dependency: 403 unless the form field (or X-CSRF-Token header) matches this browser's token."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    binding = _binding(request)
    if not sent or binding is None:
        raise Forbidden(CSRF_FAILED)
    if not hmac.compare_digest(sent.encode(), token_for(binding, _settings(request)).encode()):
        raise Forbidden(CSRF_FAILED)


CsrfForm = Annotated[None, Depends(verify_csrf)]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
API_CSRF_FAILED = (
    "A request signed in with the session cookie must send the X-CSRF-Token header "
    "(or authenticate with 'Authorization: Bearer <token>')."
)


def require_api_header(request: Request, session_cookie: str) -> None:
    """403 for an unsafe API request authenticated by ``session_cookie`` without the matching
    X-CSRF-Token header: another site can make the browser send the cookie, never the header."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER, "")
    expected = token_for(session_cookie, _settings(request))
    if not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Forbidden(API_CSRF_FAILED)
