"""The engine's pool (connections idle for a while are pinged before use, busy ones are not) and
the two ways to write: autocommit statements and atomic sessions."""

from __future__ import annotations

import asyncio
import logging
import os

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import PG_URL
from xtrack.db import Database, create_engine


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(text("SELECT pg_backend_pid()")))


async def _terminate(pid: int) -> None:
    killer = create_engine(PG_URL, pool_size=1)
    try:
        async with killer.connect() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await killer.dispose()


async def test_a_connection_killed_while_idle_is_replaced_before_use(monkeypatch: pytest.MonkeyPatch) -> None:
    # Idle for 0.6 s is past the 0.5 s ping threshold; the two reads after it are well within it
    engine = create_engine(PG_URL, pool_size=1, ping_idle_seconds=0.5)
    try:
        pings = _count_pings(engine, monkeypatch)
        first = await _backend_pid(engine)
        await _terminate(first)  # a database restart, or an idle timeout on the way
        await asyncio.sleep(0.6)
        # The pooled connection is pinged, found dead and replaced: the caller never sees the error.
        second = await _backend_pid(engine)
        assert second != first
        assert await _backend_pid(engine) == second
        assert len(pings) == 1  # only the idle one; its fresh replacement, reused at once, is not pinged
    finally:
        await engine.dispose()


def _count_pings(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    dialect = engine.sync_engine.dialect
    real_ping = dialect.do_ping
    pings: list[object] = []

    def counting_ping(dbapi_connection: object) -> bool:
        pings.append(dbapi_connection)
        return real_ping(dbapi_connection)

    monkeypatch.setattr(dialect, "do_ping", counting_ping)
    return pings


async def test_a_connection_in_steady_use_is_not_pinged(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = create_engine(PG_URL, pool_size=1, ping_idle_seconds=60)
    pings = _count_pings(engine, monkeypatch)
    try:
        for _ in range(5):
            await _backend_pid(engine)
        assert pings == []  # a fresh connection, then one returned moments ago: no extra round trip
    finally:
        await engine.dispose()


async def test_autocommit_statements_are_visible_at_once_and_sessions_stay_atomic() -> None:
    engine = create_engine(PG_URL, pool_size=2)
    database = Database(engine)
    name = f"autocommit_probe_{os.getpid()}"
    try:
        async with engine.begin() as setup:
            await setup.execute(text(f"CREATE TABLE IF NOT EXISTS {name} (n integer)"))
            await setup.execute(text(f"DELETE FROM {name}"))

        async def seen_elsewhere() -> int:
            async with engine.connect() as other:
                return int(await other.scalar(text(f"SELECT count(*) FROM {name}")) or 0)

        async with database.autocommit() as connection:
            await connection.execute(text(f"INSERT INTO {name} VALUES (1)"))
            assert await seen_elsewhere() == 1  # committed by itself, while the block is still open
        with pytest.raises(RuntimeError):
            async with database.session() as session:
                await session.execute(text(f"INSERT INTO {name} VALUES (2)"))
                raise RuntimeError("roll back")
        assert await seen_elsewhere() == 1  # the session's insert went with its rollback
    finally:
        async with engine.begin() as cleanup:
            await cleanup.execute(text(f"DROP TABLE IF EXISTS {name}"))
        await engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_a_database_error_never_carries_the_bound_values(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Target URLs (bot tokens, webhook keys) are bound parameters: an error logged with its
    # traceback must not print them (issue 22, finding 3).
    secret = "tgram://123456789:AAH-very-secret-token/42"
    engine = create_engine(PG_URL if kind == "postgresql" else "sqlite+aiosqlite:///:memory:", pool_size=1)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TEMPORARY TABLE hidden (url TEXT UNIQUE)"))
            await connection.execute(text("INSERT INTO hidden (url) VALUES (:url)"), {"url": secret})
            with pytest.raises(IntegrityError) as raised:
                await connection.execute(text("INSERT INTO hidden (url) VALUES (:url)"), {"url": secret})
        logging.getLogger("xtrack.test").exception("db.failed", exc_info=raised.value)
    finally:
        await engine.dispose()
    assert "INSERT INTO hidden" in caplog.text  # the statement is still there to debug with
    assert "AAH-very-secret-token" not in caplog.text
    assert "AAH-very-secret-token" not in str(raised.value)
