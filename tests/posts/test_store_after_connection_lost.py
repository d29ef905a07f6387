"""A fetch whose posts were read while the database connection was lost (a PostgreSQL restart,
found by the soak) stores them on a new connection instead of dropping them: the next fetch would
read them from the source again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from starlette.requests import Request
from starlette.responses import Response

from tests.conftest import fresh_database_url
from tests.fakes.server import serve_app
from tests.posts.helpers import LEASE_SECONDS, stored_count
from tests.sources.fakes import FakeX
from xtrack import migrate
from xtrack.db import Database, create_engine
from xtrack.posts import refresh
from xtrack.sources.x import XSource


class CuttingX(FakeX):
    """FakeX that terminates every connection to the database before answering a timeline."""

    def __init__(self, database_url: str) -> None:
        super().__init__()
        self.url = make_url(database_url)

    async def timeline(self, request: Request) -> Response:
        conn = await asyncpg.connect(
            user=self.url.username or "postgres",
            host=self.url.host or "127.0.0.1",
            port=self.url.port or 5432,
            database="postgres",
        )
        try:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", self.url.database
            )
        finally:
            await conn.close()
        return await super().timeline(request)


@pytest.fixture
async def own_db() -> AsyncIterator[tuple[Database, str]]:
    url = fresh_database_url("postgresql", "store_lost")
    await asyncio.to_thread(migrate.upgrade, url)
    database = Database(create_engine(url, pool_size=2))
    try:
        yield database, url
    finally:
        await database.dispose()


@pytest.fixture
def cutting_x(own_db: tuple[Database, str]) -> Iterator[tuple[CuttingX, str]]:
    fake = CuttingX(own_db[1])
    with serve_app(fake.app) as base_url:
        yield fake, base_url


async def test_posts_read_while_the_connection_was_lost_are_stored_not_read_again(
    own_db: tuple[Database, str], cutting_x: tuple[CuttingX, str]
) -> None:
    database, _url = own_db
    fake, base_url = cutting_x
    source = XSource(
        base_url=base_url,
        bearer_token="good-token",
        public_url="http://xtrack.test",
        timeout=5.0,
        max_retries=0,
    )
    now = datetime.now(UTC)
    user = fake.add_user("alice")
    fake.add_posts(user, 30, start=now - timedelta(hours=2))
    try:
        snapshot = await refresh.refresh_account(
            database,
            source,
            username="alice",
            need_since=now - timedelta(hours=24),
            requested_at=now,
            lease_seconds=LEASE_SECONDS,
        )
    finally:
        await source.aclose()

    assert snapshot.posts_stored == 30
    assert fake.posts_served == 30  # read once, stored once
    async with database.session() as session:
        assert await stored_count(session, snapshot.account_id) == 30
