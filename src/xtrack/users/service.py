"""Users: registration, sign-in, passwords, settings, API tokens, statuses.

Functions take the session first, never commit, and take ``now`` when time matters. Email links
and their emails (sent only after the unit of work commits) are ``xtrack.users.email_links``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from zoneinfo import available_timezones

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from xtrack.config import Settings
from xtrack.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from xtrack.users import auth, email_links, emails
from xtrack.users.models import (
    ApiToken,
    BudgetAction,
    EmailToken,
    EmailTokenPurpose,
    Theme,
    User,
    UserStatus,
    WebSession,
)
from xtrack.users.passwords import hash_password, needs_rehash, verify_password

logger = logging.getLogger("xtrack.users")

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
WRONG_CREDENTIALS = "Email or password is incorrect."
SUSPENDED_DETAIL = "This account is suspended. Contact the administrator of this XTrack."


# Validation ----------------------------------------------------------------------------------------


def normalize_email(email: str) -> str:
    """Lower-case, trimmed, syntactically valid; raises Invalid naming the field otherwise."""
    candidate = email.strip().lower()
    if not candidate:
        raise Invalid("Enter your email address.", field="email")
    try:
        validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as exc:
        raise Invalid(f"'{candidate}' is not a valid email address: {exc}", field="email") from None
    return candidate


def check_password(password: str, *, email: str, field: str = "password") -> None:
    """At least 10 characters and not the email; raises Invalid naming ``field``."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(f"Password must be at least {MIN_PASSWORD_LENGTH} characters long.", field=field)
    if len(password) > MAX_PASSWORD_LENGTH:
        raise Invalid(f"Password must be at most {MAX_PASSWORD_LENGTH} characters long.", field=field)
    if password.strip().lower() == email.strip().lower():
        raise Invalid("Password must not be your email address.", field=field)


@lru_cache(maxsize=1)
def timezone_names() -> frozenset[str]:
    """Every IANA time zone name this system knows."""
    return frozenset(available_timezones() | {"UTC"})


def check_timezone(name: str) -> str:
    """A valid IANA zone name, or Invalid naming the field."""
    name = name.strip()
    if name not in timezone_names():
        raise Invalid(f"'{name}' is not a known time zone: pick one such as Europe/Paris.", field="timezone")
    return name


def check_theme(theme: str) -> str:
    if theme not in {t.value for t in Theme}:
        raise Invalid("Theme must be system, light or dark.", field="theme")
    return theme


async def _hash(password: str, settings: Settings) -> str:
    # argon2 is CPU-heavy: off the event loop
    return await asyncio.to_thread(hash_password, password, settings)


async def _verify(password_hash: str, password: str, settings: Settings) -> bool:
    return await asyncio.to_thread(verify_password, password_hash, password, settings)


@lru_cache(maxsize=4)
def _dummy_hash(time_cost: int, memory_kib: int) -> str:
    """A hash to verify against when the email is unknown (the same time as a wrong password)."""
    return hash_password(
        "xtrack-dummy-password-for-timing",
        Settings(argon2_time_cost=time_cost, argon2_memory_kib=memory_kib),
    )


# Lookup and creation -------------------------------------------------------------------------------


async def get_by_email(session: AsyncSession, email: str) -> User | None:
    """The user with this (normalized) email, or None."""
    result = await session.execute(select(User).where(User.email == email.strip().lower()))
    return result.scalar_one_or_none()


async def get_by_email_or_404(session: AsyncSession, email: str) -> User:
    """The user with this email; NotFound naming it otherwise."""
    user = await get_by_email(session, email)
    if user is None:
        raise NotFound(f"No user with email {email.strip().lower()}.")
    return user


async def get(session: AsyncSession, user_id: int) -> User:
    """The user with this id; NotFound otherwise."""
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("User not found.")
    return user


async def create(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    settings: Settings,
    status: UserStatus = UserStatus.UNVERIFIED,
    is_admin: bool = False,
    timezone: str = "UTC",
) -> User:
    """Create a user with a hashed password; Conflict when the email is taken."""
    email = normalize_email(email)
    check_password(password, email=email)
    timezone = check_timezone(timezone)
    if await get_by_email(session, email) is not None:
        raise Conflict("An account with this email already exists.", field="email")
    user = User(
        email=email,
        password_hash=await _hash(password, settings),
        status=status.value,
        is_admin=is_admin,
        timezone=timezone,
        monthly_budget_usd=settings.default_monthly_budget_usd,
    )
    session.add(user)
    await session.flush()
    return user


async def list_users(session: AsyncSession, *, search: str | None = None, limit: int = 200) -> Sequence[User]:
    """Users by id, optionally filtered by an email substring."""
    query = select(User).order_by(User.id).limit(limit)
    if search:
        query = query.where(func.lower(User.email).contains(search.strip().lower(), autoescape=True))
    return (await session.execute(query)).scalars().all()


async def register(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    now: datetime,
    settings: Settings,
    timezone: str | None = None,
) -> User | None:
    """An UNVERIFIED user, and a verification email sent after commit. For an email that already has
    an account: None, and its owner is told by email that someone tried, so the caller can answer
    both the same way (registration must not tell who has an account)."""
    email = normalize_email(email)
    check_password(password, email=email)
    timezone = check_timezone(timezone or "UTC")
    existing = await get_by_email(session, email)
    if existing is not None:
        await _hash(password, settings)  # the work a new account costs: the answer's timing says nothing
        attempt = emails.registration_attempt(f"{settings.base_url}/signin", f"{settings.base_url}/reset")
        email_links.send_after_commit(
            session, to=existing.email, email=attempt, kind="register_existing", settings=settings
        )
        logger.info("user.register_existing", extra={"user_id": existing.id})
        return None
    user = await create(session, email=email, password=password, settings=settings, timezone=timezone)
    user.created_at = now
    await email_links.send_link(
        session, user=user, purpose=EmailTokenPurpose.VERIFY, now=now, settings=settings
    )
    logger.info("user.registered", extra={"user_id": user.id})
    return user


async def resend_verification(
    session: AsyncSession, *, user: User, now: datetime, settings: Settings
) -> bool:
    """Send a new verification link to an UNVERIFIED user; False (nothing sent) otherwise."""
    if user.status != UserStatus.UNVERIFIED.value:
        return False
    await email_links.send_link(
        session, user=user, purpose=EmailTokenPurpose.VERIFY, now=now, settings=settings
    )
    return True


async def resend_verification_to(
    session: AsyncSession, *, email: str, now: datetime, settings: Settings
) -> None:
    """Resend by email address; says nothing about whether such an unverified user exists."""
    user = await get_by_email(session, email)
    if user is not None:
        await resend_verification(session, user=user, now=now, settings=settings)


async def verify_email(session: AsyncSession, *, token: str, now: datetime) -> User:
    """Use a verification link: UNVERIFIED -> ACTIVE (an ACTIVE user stays ACTIVE)."""
    user = await email_links.consume_email_token(
        session, token=token, purpose=EmailTokenPurpose.VERIFY, now=now
    )
    if user.status == UserStatus.SUSPENDED.value:
        raise Forbidden(SUSPENDED_DETAIL)
    user.status = UserStatus.ACTIVE.value
    await email_links.retire_tokens(session, user_id=user.id, purpose=EmailTokenPurpose.VERIFY, now=now)
    await session.flush()
    logger.info("user.verified", extra={"user_id": user.id})
    return user


# Sign-in -------------------------------------------------------------------------------------------


async def authenticate(
    session: AsyncSession, *, email: str, password: str, now: datetime, settings: Settings
) -> User:
    """The user with these credentials (UNVERIFIED included): updates last_login_at, rehashes if needed.

    Unauthorized for a wrong email or password (the same message and about the same time for both);
    Forbidden for a suspended account.
    """
    user = await get_by_email(session, email)
    if user is None:
        dummy = _dummy_hash(settings.argon2_time_cost, settings.argon2_memory_kib)
        await _verify(dummy, password, settings)
        raise Unauthorized(WRONG_CREDENTIALS)
    if not await _verify(user.password_hash, password, settings):
        logger.info("user.signin_failed", extra={"user_id": user.id})
        raise Unauthorized(WRONG_CREDENTIALS)
    if user.status == UserStatus.SUSPENDED.value:
        raise Forbidden(SUSPENDED_DETAIL)
    if needs_rehash(user.password_hash, settings):
        user.password_hash = await _hash(password, settings)
    user.last_login_at = now
    await session.flush()
    logger.info("user.signed_in", extra={"user_id": user.id})
    return user


async def start_web_session(
    session: AsyncSession, *, user: User, now: datetime, settings: Settings, user_agent: str | None = None
) -> str:
    """A new web session for a signed-in user; returns the cookie value."""
    return await auth.create_web_session(
        session, user=user, now=now, settings=settings, user_agent=user_agent
    )


async def create_login_link(
    session: AsyncSession, user: User, now: datetime, *, settings: Settings, send: bool = False
) -> str:
    """A single-use sign-in link valid 24 h (``xtrack demo`` prints it); emailed too when ``send``."""
    purpose = EmailTokenPurpose.LOGIN
    if send:
        return await email_links.send_link(session, user=user, purpose=purpose, now=now, settings=settings)
    token = await email_links.issue_email_token(session, user=user, purpose=purpose, now=now)
    return email_links.link_url(purpose, token, settings=settings)


async def use_login_link(session: AsyncSession, *, token: str, now: datetime) -> User:
    """Use a sign-in link; it also proves the email, so an UNVERIFIED user becomes ACTIVE."""
    user = await email_links.consume_email_token(
        session, token=token, purpose=EmailTokenPurpose.LOGIN, now=now
    )
    if user.status == UserStatus.SUSPENDED.value:
        raise Forbidden(SUSPENDED_DETAIL)
    user.status = UserStatus.ACTIVE.value
    user.last_login_at = now
    await session.flush()
    logger.info("user.signed_in", extra={"user_id": user.id, "method": "login_link"})
    return user


# Passwords -----------------------------------------------------------------------------------------


async def request_password_reset(
    session: AsyncSession, *, email: str, now: datetime, settings: Settings
) -> None:
    """Email a reset link when an unsuspended user has this email; the caller answers the same either way."""
    user = await get_by_email(session, email)
    if user is None or user.status == UserStatus.SUSPENDED.value:
        return
    await email_links.send_link(
        session, user=user, purpose=EmailTokenPurpose.RESET, now=now, settings=settings
    )
    logger.info("user.reset_requested", extra={"user_id": user.id})


async def reset_password(
    session: AsyncSession, *, token: str, password: str, now: datetime, settings: Settings
) -> User:
    """Use a reset link: new password, every session, API token and feed address revoked, the email
    counts as verified."""
    _, user = await email_links.check_email_token(
        session, token=token, purpose=EmailTokenPurpose.RESET, now=now
    )
    check_password(password, email=user.email)  # before using the token, so a typo does not burn it
    user = await email_links.consume_email_token(
        session, token=token, purpose=EmailTokenPurpose.RESET, now=now
    )
    if user.status == UserStatus.SUSPENDED.value:
        raise Forbidden(SUSPENDED_DETAIL)
    user.password_hash = await _hash(password, settings)
    user.status = UserStatus.ACTIVE.value
    await email_links.retire_tokens(session, user_id=user.id, purpose=EmailTokenPurpose.RESET, now=now)
    await auth.revoke_all_credentials(session, user_id=user.id)
    await session.flush()
    logger.info("user.password_reset", extra={"user_id": user.id})
    return user


async def change_password(
    session: AsyncSession,
    *,
    user: User,
    current_password: str,
    new_password: str,
    settings: Settings,
    keep_session: str | None = None,
) -> None:
    """Change the password after checking the current one; other web sessions are signed out.

    ``keep_session`` is the cookie value of the session making the change, which stays signed in.
    API tokens are kept: they are revoked one by one from the account page.
    """
    if not current_password or not await _verify(user.password_hash, current_password, settings):
        raise Invalid("Your current password is not correct.", field="current_password")
    check_password(new_password, email=user.email, field="new_password")
    if new_password == current_password:
        raise Invalid("Choose a password different from the current one.", field="new_password")
    user.password_hash = await _hash(new_password, settings)
    query = delete(WebSession).where(WebSession.user_id == user.id)
    if keep_session:
        query = query.where(WebSession.token_hash != auth.hash_token(keep_session))
    await session.execute(query)
    await session.flush()
    logger.info("user.password_changed", extra={"user_id": user.id})


# Settings ------------------------------------------------------------------------------------------


async def update_settings(
    session: AsyncSession, *, user: User, timezone: str | None = None, theme: str | None = None
) -> User:
    """Change the time zone and/or theme (validated; None keeps the current value)."""
    if timezone is not None:
        user.timezone = check_timezone(timezone)
    if theme is not None:
        user.theme = check_theme(theme)
    await session.flush()
    return user


async def update_budget(
    session: AsyncSession, *, user: User, monthly_budget_usd: float | None, budget_action: str
) -> User:
    """Set the monthly budget (None: no limit) and what happens once it is spent."""
    if monthly_budget_usd is not None and monthly_budget_usd < 0:
        raise Invalid(
            "The monthly budget must be 0 or more US dollars (empty: no limit).", field="monthly_budget_usd"
        )
    if budget_action not in {action.value for action in BudgetAction}:
        raise Invalid("budget_action must be offline or pause.", field="budget_action")
    user.monthly_budget_usd = monthly_budget_usd
    user.budget_action = budget_action
    await session.flush()
    return user


# API tokens ----------------------------------------------------------------------------------------


async def create_api_token(
    session: AsyncSession, *, user: User, name: str, now: datetime
) -> tuple[ApiToken, str]:
    """A named personal API token; the plain value is returned once and never stored."""
    name = name.strip()
    if not name:
        raise Invalid("Give the token a name, e.g. 'laptop' or 'backup script'.", field="name")
    if len(name) > 100:
        raise Invalid("The name must be at most 100 characters long.", field="name")
    return await auth.create_api_token(session, user=user, name=name, now=now)


async def list_api_tokens(session: AsyncSession, *, user: User) -> Sequence[ApiToken]:
    """The user's API tokens, newest first."""
    query = select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
    return (await session.execute(query)).scalars().all()


async def revoke_api_token(session: AsyncSession, *, user: User, token_id: int) -> None:
    """Delete one of the user's API tokens; NotFound for anyone else's."""
    token = await session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound("API token not found.")
    await session.delete(token)
    await session.flush()


# Statuses and roles --------------------------------------------------------------------------------


async def set_status(session: AsyncSession, user: User, status: UserStatus) -> User:
    """Change a user's status; suspending revokes every session, API token, feed address and email
    link at once."""
    user.status = status.value
    if status == UserStatus.SUSPENDED:
        await auth.revoke_all_credentials(session, user_id=user.id)
        await session.execute(
            delete(EmailToken).where(EmailToken.user_id == user.id, EmailToken.used_at.is_(None))
        )
    await session.flush()
    logger.info("user.status_changed", extra={"user_id": user.id, "status": status.value})
    return user


async def suspend(session: AsyncSession, *, user: User, by: User | None = None) -> User:
    """Suspend a user (not oneself); they are signed out everywhere at once."""
    if by is not None and by.id == user.id:
        raise Conflict("You cannot suspend your own account.")
    return await set_status(session, user, UserStatus.SUSPENDED)


async def activate(session: AsyncSession, *, user: User) -> User:
    """Make a user ACTIVE (lifts a suspension; also vouches for an unverified email)."""
    return await set_status(session, user, UserStatus.ACTIVE)


async def make_admin(session: AsyncSession, *, user: User) -> User:
    """Give a user the administrator role."""
    user.is_admin = True
    await session.flush()
    logger.info("user.made_admin", extra={"user_id": user.id})
    return user
