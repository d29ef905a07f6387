from __future__ import annotations

import pytest
from sqlalchemy import inspect, text

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


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_networks_migration_keeps_accounts_and_posts_both_ways(kind: str) -> None:
    """0009 makes existing accounts X and keeps their posts (SQLite rebuilds the accounts table,
    whose drop would cascade to the posts); the downgrade drops the other networks' accounts only."""
    url = fresh_database_url(kind, "migrations-networks")
    await _run_sync(migrate.upgrade, url, "0008")
    await _sql(
        url,
        "INSERT INTO x_accounts (id, source, username, state, created_at) "
        "VALUES (1, 'x', 'alice', 'ok', CURRENT_TIMESTAMP)",
        "INSERT INTO posts (account_id, external_id, sort_key, author_username, text, url, created_at, "
        "metrics, is_repost, is_reply, is_quote, fetched_at) VALUES (1, '5', 5, 'alice', 'hi', "
        "'https://x.com/alice/status/5', CURRENT_TIMESTAMP, '{}', false, false, false, CURRENT_TIMESTAMP)",
    )
    await _run_sync(migrate.upgrade, url)
    assert await _rows(url, "SELECT network, username FROM x_accounts") == [("x", "alice")]
    assert await _rows(url, "SELECT count(*) FROM posts") == [(1,)]
    long_handle = "someone.with-a-long-handle.bsky.social"
    await _sql(
        url,
        "INSERT INTO x_accounts (id, source, network, username, state, created_at) "
        f"VALUES (2, 'bluesky', 'bluesky', '{long_handle}', 'ok', CURRENT_TIMESTAMP)",
        # The same handle under another network would be another row (the key is per network).
        "INSERT INTO x_accounts (id, source, network, username, state, created_at) "
        "VALUES (3, 'x', 'mastodon', 'alice', 'ok', CURRENT_TIMESTAMP)",
    )
    await _run_sync(migrate.downgrade, url, "0008")
    assert await _rows(url, "SELECT username FROM x_accounts ORDER BY id") == [("alice",)]
    assert await _rows(url, "SELECT count(*) FROM posts") == [(1,)]


async def _sql(url: str, *statements: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            for statement in statements:
                await connection.execute(text(statement))
    finally:
        await engine.dispose()


async def _rows(url: str, query: str) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return [tuple(row) for row in (await connection.execute(text(query))).all()]
    finally:
        await engine.dispose()
