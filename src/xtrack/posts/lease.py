"""The fetch lease of an account (``x_accounts.fetch_started_at``): taking it with a conditional
UPDATE that re-checks what the caller saw, and releasing it. Only the holder calls the source; a
lease left behind by a dead process goes stale after ``lease_seconds``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, bindparam, or_, update

from xtrack.db import Database, typed_param
from xtrack.posts.accounts import ACCOUNTS
from xtrack.posts.coverage import Coverage
from xtrack.posts.models import XAccount
from xtrack.posts.store import Connection


def _take_lease(*, first_fetch: bool) -> Any:
    """Take the fetch lease if it is free (or stale) and nothing was stored since we looked."""
    columns = ACCOUNTS.c
    lease_at = typed_param("lease_at", columns.fetch_started_at)
    unchanged = (
        columns.last_fetched_at.is_(None)
        if first_fetch
        else columns.last_fetched_at == typed_param("seen_until", columns.last_fetched_at)
    )
    return (
        update(ACCOUNTS)
        .where(
            columns.id == bindparam("account_id"),
            or_(
                columns.fetch_started_at.is_(None),
                columns.fetch_started_at < typed_param("stale_before", columns.fetch_started_at),
            ),
            unchanged,
        )
        .values(fetch_started_at=lease_at)
    )


_TAKE_LEASE_FIRST = _take_lease(first_fetch=True)
_TAKE_LEASE = _take_lease(first_fetch=False)


async def claim_lease(
    session: Connection, account_id: int, *, now: datetime, lease_seconds: float, seen: Coverage
) -> bool:
    """Take the lease if it is free (or stale) and nothing was stored since we looked."""
    values: dict[str, Any] = {
        "account_id": account_id,
        "stale_before": now - timedelta(seconds=lease_seconds),
        "lease_at": now,
    }
    if seen.covered_until is None:
        statement = _TAKE_LEASE_FIRST
    else:
        statement = _TAKE_LEASE
        values["seen_until"] = seen.covered_until
    result = await session.execute(statement, values)
    return cast(CursorResult[Any], result).rowcount == 1


async def release_lease(database: Database, account_id: int, lease_at: datetime) -> None:
    """Free the lease taken at ``lease_at``, unless another caller took it over since."""
    async with database.session() as session:
        await session.execute(
            update(XAccount)
            .where(XAccount.id == account_id, XAccount.fetch_started_at == lease_at)
            .values(fetch_started_at=None)
            .execution_options(synchronize_session=False)
        )
