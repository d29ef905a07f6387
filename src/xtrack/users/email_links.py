"""Email links: single-use tokens (stored as hashes) for verifying an address, resetting a password
and signing in, and the emails that carry them, sent only after the unit of work commits."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from xtrack.config import Settings
from xtrack.db import after_commit
from xtrack.errors import XTrackError
from xtrack.mail import send_email
from xtrack.users import auth, emails
from xtrack.users.models import EmailToken, EmailTokenPurpose, User

logger = logging.getLogger("xtrack.users")

TOKEN_LIFETIMES = {
    EmailTokenPurpose.VERIFY: timedelta(hours=24),
    EmailTokenPurpose.RESET: timedelta(hours=1),
    EmailTokenPurpose.LOGIN: timedelta(hours=24),
}
LINK_PATHS = {
    EmailTokenPurpose.VERIFY: "/verify",
    EmailTokenPurpose.RESET: "/reset/confirm",
    EmailTokenPurpose.LOGIN: "/login-link",
}


class InvalidLink(XTrackError):
    """An email link (token) that is unknown, expired or already used; ``reason`` says which."""

    status_code = 400

    def __init__(self, message: str, *, reason: str, purpose: EmailTokenPurpose) -> None:
        super().__init__(message, field="token")
        self.reason = reason
        self.purpose = purpose


_LINK_MESSAGES = {
    "unknown": "This link is not valid. Check that you opened the whole link from the email, or ask for a "
    "new one.",
    "expired": "This link has expired. Ask for a new one.",
    "used": "This link has already been used. Links work only once: ask for a new one if you need it.",
}


def link_url(purpose: EmailTokenPurpose, token: str, *, settings: Settings) -> str:
    return f"{settings.base_url}{LINK_PATHS[purpose]}?{urlencode({'token': token})}"


async def issue_email_token(
    session: AsyncSession, *, user: User, purpose: EmailTokenPurpose, now: datetime
) -> str:
    """A single-use random token for an email link; only its hash is stored. Returns the plain value."""
    plain = auth.new_token()
    session.add(
        EmailToken(
            user_id=user.id,
            purpose=purpose.value,
            token_hash=auth.hash_token(plain),
            created_at=now,
            expires_at=now + TOKEN_LIFETIMES[purpose],
        )
    )
    await session.flush()
    return plain


async def check_email_token(
    session: AsyncSession, *, token: str, purpose: EmailTokenPurpose, now: datetime
) -> tuple[EmailToken, User]:
    """The token and its user while the token is usable; InvalidLink (unknown/expired/used) otherwise."""
    row = (
        await session.execute(
            select(EmailToken, User)
            .join(User, User.id == EmailToken.user_id)
            .where(
                EmailToken.token_hash == auth.hash_token(token.strip()), EmailToken.purpose == purpose.value
            )
        )
    ).first()
    if not token.strip() or row is None:
        raise InvalidLink(_LINK_MESSAGES["unknown"], reason="unknown", purpose=purpose)
    email_token, user = row
    if email_token.used_at is not None:
        raise InvalidLink(_LINK_MESSAGES["used"], reason="used", purpose=purpose)
    if now >= email_token.expires_at:
        raise InvalidLink(_LINK_MESSAGES["expired"], reason="expired", purpose=purpose)
    return email_token, user


async def consume_email_token(
    session: AsyncSession, *, token: str, purpose: EmailTokenPurpose, now: datetime
) -> User:
    """Use a token once (atomically: two simultaneous uses cannot both succeed) and return its user."""
    email_token, user = await check_email_token(session, token=token, purpose=purpose, now=now)
    result = await session.execute(
        update(EmailToken)
        .where(EmailToken.id == email_token.id, EmailToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        raise InvalidLink(_LINK_MESSAGES["used"], reason="used", purpose=purpose)
    return user


async def retire_tokens(
    session: AsyncSession, *, user_id: int, purpose: EmailTokenPurpose, now: datetime
) -> None:
    """Mark the user's other unused tokens of this purpose used (one verified email, one reset)."""
    await session.execute(
        update(EmailToken)
        .where(
            EmailToken.user_id == user_id, EmailToken.purpose == purpose.value, EmailToken.used_at.is_(None)
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )


def send_after_commit(
    session: AsyncSession, *, to: str, email: emails.Email, kind: str, settings: Settings
) -> None:
    """Send the email once the transaction that created its token has committed."""

    async def deliver() -> None:
        try:
            await send_email(settings, to=to, subject=email.subject, text=email.text, html=email.html)
        except Exception as exc:  # the change is committed; the user can ask for the email again
            logger.error("mail.failed", extra={"kind": kind, "error": type(exc).__name__})

    after_commit(session, deliver)


async def send_link(
    session: AsyncSession, *, user: User, purpose: EmailTokenPurpose, now: datetime, settings: Settings
) -> str:
    """Issue a link for ``purpose`` and email it after the commit; returns the link."""
    token = await issue_email_token(session, user=user, purpose=purpose, now=now)
    url = link_url(purpose, token, settings=settings)
    compose = {
        EmailTokenPurpose.VERIFY: emails.verification,
        EmailTokenPurpose.RESET: emails.password_reset,
        EmailTokenPurpose.LOGIN: emails.login_link,
    }[purpose]
    send_after_commit(session, to=user.email, email=compose(url), kind=purpose.value, settings=settings)
    return url
