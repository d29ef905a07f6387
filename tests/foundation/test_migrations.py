from __future__ import annotations

import pytest
from sqlalchemy import inspect

from tests.conftest import fresh_database_url
from xtrack import migrate
from xtrack.db import create_engine


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_upgrade_downgrade_upgrade_and_models_agree(kind: str) -> None:
    url = fresh_database_url(kind, "migrations")
    await _run_sync(migrate.upgrade, url)
    await _run_sync(migrate.check, url)  # raises when autogenerate would find a difference
    await _run_sync(migrate.downgrade, url, "base")
    assert await _table_names(url) == {"alembic_version"}
    await _run_sync(migrate.upgrade, url)
    tables = await _table_names(url)
    assert {"users", "jobs", "job_executions", "summaries", "x_accounts", "posts"} <= tables


async def _run_sync(fn, *args):  # type: ignore[no-untyped-def]
    # Alembic's env runs its own event loop: keep it off the test's loop.
    import asyncio

    return await asyncio.to_thread(fn, *args)


async def _table_names(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()
