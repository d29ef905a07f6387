"""Fixtures of the posts store's tests: a database with real separate connections, and the fake
X with its real client (shared with the sources' tests)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete

from tests.conftest import fresh_database_url
from tests.sources.conftest import fake_x, x_source
from xtrack import migrate
from xtrack.db import Database, create_engine
from xtrack.posts.models import SourceLimit, StoredPost, XAccount

__all__ = ["fake_x", "x_source"]  # fixtures of the sources' tests, used here too


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def shared_own_database(request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    """A database of each kind with real, separate connections and commits (the ``db`` fixture's
    sessions all share one connection, which cannot show concurrency)."""
    url = fresh_database_url(request.param, f"src_{request.module.__name__.rsplit('.', 1)[-1][-12:]}")
    await asyncio.to_thread(migrate.upgrade, url)
    database = Database(create_engine(url, pool_size=10))
    yield database
    await database.dispose()


@pytest.fixture
async def own_database(shared_own_database: Database) -> AsyncIterator[Database]:
    yield shared_own_database
    async with shared_own_database.session() as session:
        await session.execute(delete(StoredPost))
        await session.execute(delete(XAccount))
        await session.execute(delete(SourceLimit))
