"""The shared source limits (``source_limits``, one row per source): recording what a source said
about its budget (remaining requests, rate limited until T) for every process, and reading it
before a call, so a source rate limited until T gets no request before T from any process."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, ScalarSelect, Table, case, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from xtrack.db import Database
from xtrack.observability import get_logger
from xtrack.posts.models import SourceLimit
from xtrack.sources.base import FetchResult, QuotaExhausted, SourceError, SourceRateLimited

logger = get_logger(__name__)

_LIMITS = cast(Table, SourceLimit.__table__)

# The remaining budget is informational and every fetch reports it; one row per source is hot, so a
# process refreshes it at most this often. A limit (remaining 0 / a 429) is always written at once.
REMAINING_WRITE_INTERVAL_SECONDS = 1.0
_remaining_written: dict[tuple[Database, str], float] = {}


def limited_until_of(source: ColumnElement[str]) -> ScalarSelect[Any]:
    """The rate-limit reset recorded for ``source`` (a column of the outer query), as a subquery."""
    return select(_LIMITS.c.rate_limited_until).where(_LIMITS.c.source == source).scalar_subquery()


def paused_until_of(source: ColumnElement[str]) -> ScalarSelect[Any]:
    """Until when ``source`` is paused (its quota used up), as a subquery."""
    return select(_LIMITS.c.paused_until).where(_LIMITS.c.source == source).scalar_subquery()


def pause_reason_of(source: ColumnElement[str]) -> ScalarSelect[Any]:
    return select(_LIMITS.c.pause_reason).where(_LIMITS.c.source == source).scalar_subquery()


@dataclass(frozen=True, slots=True)
class SourceBlock:
    """What the shared ``source_limits`` row says about calling the source now."""

    limited_until: datetime | None = None
    paused_until: datetime | None = None
    pause_reason: str | None = None

    def error(self, source_name: str, *, now: datetime) -> SourceError | None:
        """The error of a call not made now (paused, or rate limited), None when it may be made."""
        if self.paused_until is not None and self.paused_until > now:
            reason = self.pause_reason or f"{source_name} is paused"
            return QuotaExhausted(reason, reset_at=self.paused_until)
        if self.limited_until is not None and self.limited_until > now:
            return rate_limited(source_name, self.limited_until)
        return None


def rate_limited(source_name: str, limited_until: datetime) -> SourceRateLimited:
    """The error of a call not made because the source is known to be limited until then."""
    return SourceRateLimited(
        f"{source_name} is rate limited until {limited_until.isoformat()}", reset_at=limited_until
    )


def reported_limit(result: FetchResult, *, now: datetime) -> datetime | None:
    """Until when a successful fetch says the source is limited: its budget is spent until a
    reset still to come."""
    if (
        result.rate_limit_remaining == 0
        and result.rate_limit_reset_at is not None
        and result.rate_limit_reset_at > now
    ):
        return result.rate_limit_reset_at
    return None


async def record_limits(
    session: AsyncSession,
    database: Database,
    source_name: str,
    *,
    remaining: int | None,
    limited_until: datetime | None,
    now: datetime,
) -> None:
    """Share what the source said about its budget with every process (``source_limits``)."""
    key = (database, source_name)
    if limited_until is None:
        last = _remaining_written.get(key)
        if remaining is None or (
            last is not None and time.monotonic() - last < REMAINING_WRITE_INTERVAL_SECONDS
        ):
            return
    # Take the slot before writing: the fetches finishing meanwhile (hundreds, under load) must not
    # all pass the check above and queue on this one row's lock inside their transactions.
    _remaining_written[key] = time.monotonic()
    values: dict[str, Any] = {"updated_at": now}
    if remaining is not None:
        values["remaining"] = remaining
    if limited_until is not None:
        column = SourceLimit.rate_limited_until
        # Never shorten a limit another process recorded.
        values["rate_limited_until"] = case(
            (or_(column.is_(None), column < limited_until), limited_until), else_=column
        )
    statement = (
        update(SourceLimit)
        .where(SourceLimit.source == source_name)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], await session.execute(statement)).rowcount == 0:
        await _ensure_row(session, database, source_name, now)
        await session.execute(statement)


async def _ensure_row(session: AsyncSession, database: Database, source_name: str, now: datetime) -> None:
    dialect = postgresql if database.dialect == "postgresql" else sqlite
    await session.execute(
        dialect.insert(SourceLimit)
        .values(source=source_name, updated_at=now)
        .on_conflict_do_nothing(index_elements=["source"])
    )


async def pause_source(
    session: AsyncSession, database: Database, source_name: str, error: QuotaExhausted, *, now: datetime
) -> bool:
    """Pause the source for every process until ``error.reset_at``; True when this paused it (it
    was not paused yet): the caller that did tells the operator, once per pause."""
    await _ensure_row(session, database, source_name, now)
    column = SourceLimit.paused_until
    statement = (
        update(SourceLimit)
        .where(SourceLimit.source == source_name, or_(column.is_(None), column <= now))
        .values(paused_until=error.reset_at, pause_reason=error.message[:500], updated_at=now)
        .execution_options(synchronize_session=False)
    )
    paused = cast(CursorResult[Any], await session.execute(statement)).rowcount == 1
    if paused:
        # The one notice to the operator: every later run fails fast without calling the source.
        logger.error(
            "source.paused",
            source=source_name,
            reason=error.message,
            paused_until=error.reset_at.isoformat(),
            hint=f"top up or wait for the reset, then: xtrack sources resume {source_name}",
        )
    return paused


async def resume_source(session: AsyncSession, source_name: str, *, now: datetime) -> bool:
    """Lift a pause (and a recorded rate limit) of the source: True when it was paused."""
    statement = (
        update(SourceLimit)
        .where(SourceLimit.source == source_name, SourceLimit.paused_until.is_not(None))
        .values(paused_until=None, pause_reason=None, rate_limited_until=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    resumed = cast(CursorResult[Any], await session.execute(statement)).rowcount == 1
    if resumed:
        logger.info("source.resumed", source=source_name)
    return resumed


async def source_pauses(session: AsyncSession, *, now: datetime) -> list[SourceLimit]:
    """The sources paused now (for doctor and the admin page)."""
    rows = await session.scalars(
        select(SourceLimit).where(SourceLimit.paused_until > now).order_by(SourceLimit.source)
    )
    return list(rows)
