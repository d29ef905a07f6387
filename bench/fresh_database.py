"""The benchmarks' PostgreSQL database, dropped and created again before a run (imported by the
``bench_*.py`` scripts, which run with this folder on ``sys.path``)."""

from __future__ import annotations

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url


async def recreate(url: str) -> None:
    """Drop the database of ``url`` (closing its connections) and create it empty."""
    parsed = make_url(url)
    conn = await asyncpg.connect(
        user=parsed.username or "postgres",
        password=parsed.password,
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        database="postgres",
    )
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{parsed.database}"')
    finally:
        await conn.close()
