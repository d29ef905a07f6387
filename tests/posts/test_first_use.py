"""An account's first use: one read tells that it has no row and whether the source may be called,
and the row is created holding its fetch lease (a new account has nothing stored, so its first fetch
is due): two statements before the fetch, where read, insert, read again, take the lease were four."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from tests.posts.helpers import LEASE_SECONDS, account_row, stored_count
from tests.sources.fakes import FakeX
from xtrack.db import Database
from xtrack.posts import accounts, refresh
from xtrack.posts.models import SourceLimit
from xtrack.sources.base import SourceRateLimited
from xtrack.sources.x import XSource

NOW = datetime.now(UTC).replace(microsecond=0)
DAY_AGO = NOW - timedelta(hours=24)


class Statements:
    """The statements on ``x_accounts`` a block sends, in order."""

    def __init__(self, db: Database) -> None:
        self.engine = db.engine.sync_engine
        self.seen: list[str] = []

    def _record(self, _conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "x_accounts" in statement:
            self.seen.append(" ".join(statement.split()))

    def __enter__(self) -> list[str]:
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self.seen

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)


async def test_a_first_use_creates_the_row_holding_its_lease(
    db: Database, session: AsyncSession, fake_x: tuple[FakeX, str], x_source: XSource
) -> None:
    fake, _ = fake_x
    fake.add_posts(fake.add_user("newcomer"), 3, start=NOW - timedelta(hours=1))

    with Statements(db) as seen:
        snapshot = await refresh.refresh_account(
            db,
            x_source,
            username="newcomer",
            need_since=DAY_AGO,
            requested_at=NOW,
            lease_seconds=LEASE_SECONDS,
        )

    assert snapshot.posts_stored == 3 and await stored_count(session, snapshot.account_id) == 3
    read, create, *store = seen
    assert read.startswith("SELECT") and "LEFT OUTER JOIN x_accounts" in read
    assert (
        create.startswith("INSERT INTO x_accounts") and "fetch_started_at" in create and "RETURNING" in create
    )
    # Then only the store's lock and update: no second read, no UPDATE taking the lease.
    assert [s.split()[0] for s in store] == ["SELECT", "UPDATE"]  # SELECT … FOR UPDATE on PostgreSQL
    row = await account_row(session, snapshot.account_id)
    assert row.fetch_started_at is None and row.last_fetched_at == snapshot.covered_until  # lease released


async def test_a_first_use_of_a_limited_source_creates_the_row_without_a_lease(
    db: Database, session: AsyncSession, fake_x: tuple[FakeX, str], x_source: XSource
) -> None:
    fake, _ = fake_x
    fake.add_posts(fake.add_user("waiting"), 2, start=NOW - timedelta(hours=1))
    reset_at = datetime.now(UTC) + timedelta(hours=1)
    session.add(SourceLimit(source="x", rate_limited_until=reset_at, remaining=0, updated_at=NOW))
    await session.commit()
    requests = len(fake.requests)

    with pytest.raises(SourceRateLimited) as caught:
        await refresh.refresh_account(
            db,
            x_source,
            username="waiting",
            need_since=DAY_AGO,
            requested_at=NOW,
            lease_seconds=LEASE_SECONDS,
        )

    assert caught.value.reset_at == reset_at and len(fake.requests) == requests  # no request made
    account = await accounts.get_account(session, source="x", username="waiting")
    assert account is not None and account.fetch_started_at is None  # no lease left behind
