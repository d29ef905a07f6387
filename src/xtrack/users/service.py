"""Users: creation, lookup and status changes. Takes the session; never commits."""

from __future__ import annotations

from collections.abc import Sequence

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from xtrack.errors import Conflict, Invalid, NotFound
from xtrack.users.models import User, UserStatus
from xtrack.users.passwords import hash_password

MIN_PASSWORD_LENGTH = 10


def normalize_email(email: str) -> str:
    """Lower-case, trimmed, syntactically valid; raises Invalid naming the field otherwise."""
    candidate = email.strip().lower()
    try:
        validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as exc:
        raise Invalid(f"'{candidate}' is not a valid email address: {exc}", field="email") from None
    return candidate


def check_password(password: str, *, email: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(f"Password must be at least {MIN_PASSWORD_LENGTH} characters long.", field="password")
    if password.strip().lower() == email.strip().lower():
        raise Invalid("Password must not be your email address.", field="password")


async def get_by_email(session: AsyncSession, email: str) -> User | None:
    """The user with this (normalized) email, or None."""
    result = await session.execute(select(User).where(User.email == email.strip().lower()))
    return result.scalar_one_or_none()


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
    status: UserStatus = UserStatus.UNVERIFIED,
    is_admin: bool = False,
    timezone: str = "UTC",
) -> User:
    """Create a user with a hashed password; Conflict when the email is taken."""
    email = normalize_email(email)
    check_password(password, email=email)
    if await get_by_email(session, email) is not None:
        raise Conflict("An account with this email already exists.", field="email")
    user = User(
        email=email,
        password_hash=hash_password(password),
        status=status.value,
        is_admin=is_admin,
        timezone=timezone,
    )
    session.add(user)
    await session.flush()
    return user


async def list_users(session: AsyncSession, *, search: str | None = None, limit: int = 200) -> Sequence[User]:
    """Users by id, optionally filtered by an email substring."""
    query = select(User).order_by(User.id).limit(limit)
    if search:
        query = query.where(func.lower(User.email).contains(search.strip().lower()))
    return (await session.execute(query)).scalars().all()


async def set_status(session: AsyncSession, user: User, status: UserStatus) -> User:
    """Change a user's status (suspension side effects are added by the auth layer)."""
    user.status = status.value
    await session.flush()
    return user
