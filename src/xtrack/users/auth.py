"""Credentials: API tokens and web sessions, stored as SHA-256 hashes only."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from xtrack.config import Settings
from xtrack.users.models import ApiToken, FeedToken, User, WebSession

API_TOKEN_PREFIX = "xt_"
SESSION_COOKIE = "xtrack_session"


def hash_token(token: str) -> str:
    """Tokens are 256-bit random values, so a plain SHA-256 is enough to make a stolen table useless."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


async def create_api_token(
    session: AsyncSession, *, user: User, name: str, now: datetime
) -> tuple[ApiToken, str]:
    """A named personal API token; the plain value is returned once and never stored."""
    plain = new_token(API_TOKEN_PREFIX)
    token = ApiToken(
        user_id=user.id, name=name, token_hash=hash_token(plain), prefix=plain[:10], created_at=now
    )
    session.add(token)
    await session.flush()
    return token, plain


_TOKENS = cast(Table, ApiToken.__table__)


async def user_for_api_token(session: AsyncSession, plain: str, *, now: datetime) -> User | None:
    row = (
        await session.execute(
            select(ApiToken, User)
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_hash == hash_token(plain))
        )
    ).first()
    if row is None:
        return None
    token, user = row
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        # At most one write a minute per token; a Core UPDATE, not the ORM's unit of work at the
        # next flush (which costs more CPU than the statement on every API request that writes it).
        await session.execute(update(_TOKENS).where(_TOKENS.c.id == token.id).values(last_used_at=now))
        set_committed_value(token, "last_used_at", now)
    return user


async def create_web_session(
    session: AsyncSession, *, user: User, now: datetime, settings: Settings, user_agent: str | None = None
) -> str:
    """A server-side session; returns the cookie value (only its hash is stored)."""
    plain = new_token()
    session.add(
        WebSession(
            user_id=user.id,
            token_hash=hash_token(plain),
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(days=settings.session_max_days),
            user_agent=(user_agent or "")[:255] or None,
        )
    )
    await session.flush()
    return plain


async def user_for_web_session(
    session: AsyncSession, plain: str, *, now: datetime, settings: Settings
) -> User | None:
    """The session's user while it is within both its idle and its absolute expiry."""
    row = (
        await session.execute(
            select(WebSession, User)
            .join(User, User.id == WebSession.user_id)
            .where(WebSession.token_hash == hash_token(plain))
        )
    ).first()
    if row is None:
        return None
    web_session, user = row
    idle_limit = timedelta(minutes=settings.session_idle_minutes)
    if now >= web_session.expires_at or now - web_session.last_seen_at > idle_limit:
        await session.delete(web_session)
        return None
    if now - web_session.last_seen_at > timedelta(minutes=1):
        web_session.last_seen_at = now
    return user


async def end_web_session(session: AsyncSession, plain: str) -> None:
    await session.execute(delete(WebSession).where(WebSession.token_hash == hash_token(plain)))


async def revoke_all_credentials(session: AsyncSession, *, user_id: int) -> None:
    """Sign the user out everywhere: every web session, API token and feed address stops working
    at once (a feed URL is a credential too: it must not outlive a reset or come back after a suspension)."""
    await session.execute(delete(WebSession).where(WebSession.user_id == user_id))
    await session.execute(delete(ApiToken).where(ApiToken.user_id == user_id))
    await session.execute(delete(FeedToken).where(FeedToken.user_id == user_id))
