"""Who is calling: ``CurrentUser`` (signed in, not suspended) and ``ActiveUser`` (also verified).

The API authenticates with ``Authorization: Bearer <token>``; pages with the session cookie. The
API also accepts the cookie (a page's script), with the X-CSRF-Token header on unsafe methods.
Anonymous API calls get 401; anonymous page views are redirected to the sign-in page.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from xtrack.db import utcnow
from xtrack.errors import Forbidden, Unauthorized
from xtrack.users import auth
from xtrack.users.models import User, UserStatus
from xtrack.web import csrf
from xtrack.web.deps import SessionDep, SettingsDep

bearer_scheme = HTTPBearer(auto_error=False, description="A personal API token from POST /api/v1/auth/token")

UNVERIFIED_DETAIL = "Verify your email address first: we sent you a link when you registered."


class SignInRequired(Unauthorized):
    """Raised on pages: rendered as a redirect to /signin?next=..."""

    redirect_to_signin = True


async def get_optional_user(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> User | None:
    """The signed-in user, or None. Suspended users count as signed out."""
    now = utcnow()
    user: User | None = None
    if credentials is not None and credentials.scheme.lower() == "bearer":
        user = await auth.user_for_api_token(session, credentials.credentials, now=now)
    elif (cookie := request.cookies.get(auth.SESSION_COOKIE)) is not None:
        user = await auth.user_for_web_session(session, cookie, now=now, settings=settings)
        if user is not None and not _is_page(request):
            csrf.require_api_header(request, cookie)
    if user is not None and user.status == UserStatus.SUSPENDED.value:
        user = None
    request.state.user = user
    return user


OptionalUser = Annotated[User | None, Depends(get_optional_user)]


def _is_page(request: Request) -> bool:
    return not request.url.path.startswith("/api/")


async def get_current_user(request: Request, user: OptionalUser) -> User:
    if user is None:
        if _is_page(request):
            raise SignInRequired("Please sign in.")
        raise Unauthorized("Not authenticated: send 'Authorization: Bearer <token>'.")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def require_active(user: CurrentUser) -> User:
    """Writes that spend money (jobs, playground) need a verified (ACTIVE) account."""
    if user.status != UserStatus.ACTIVE.value:
        raise Forbidden(UNVERIFIED_DETAIL)
    return user


ActiveUser = Annotated[User, Depends(require_active)]


async def require_admin(user: ActiveUser) -> User:
    if not user.is_admin:
        raise Forbidden("Administrators only.")
    return user


AdminUser = Annotated[User, Depends(require_admin)]
