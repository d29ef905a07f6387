"""The shared source limits (``source_limits``, one row per source): recording what a source said
about its budget (remaining requests, rate limited until T) for every process, and reading it
before a call, so a source rate limited until T gets no request before T from any process."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, ScalarSelect, Table, case, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from xtrack.db import Database
from xtrack.posts.models import SourceLimit
from xtrack.sources.base import FetchResult, SourceRateLimited

_LIMITS = cast(Table, SourceLimit.__table__)

# The remaining budget is informational and every fetch reports it; one row per source is hot, so a
# process refreshes it at most this often. A limit (remaining 0 / a 429) is always written at once.
REMAINING_WRITE_INTERVAL_SECONDS = 1.0
_remaining_written: dict[tuple[Database, str], float] = {}


def limited_until_of(source: ColumnElement[str]) -> ScalarSelect[Any]:
    """The rate-limit reset recorded for ``source`` (a column of the outer query), as a subquery."""
    return select(_LIMITS.c.rate_limited_until).where(_LIMITS.c.source == source).scalar_subquery()


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
        dialect = postgresql if database.dialect == "postgresql" else sqlite
        await session.execute(
            dialect.insert(SourceLimit)
            .values(source=source_name, updated_at=now)
            .on_conflict_do_nothing(index_elements=["source"])
        )
        await session.execute(statement)
