"""Alembic environment: runs on the async engine for SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa
from alembic import context
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

import xtrack.models  # noqa: F401  (registers every table)
from xtrack.db import Base, create_engine

config = context.config
target_metadata = Base.metadata


def _compare_type(
    migration: MigrationContext, _inspected: Any, _column: Any, inspected_type: Any, metadata_type: Any
) -> bool | None:
    """SQLite does not enforce VARCHAR lengths, so a widened column (migration 0009 widens some
    without rebuilding their tables) is no difference there; anything else: Alembic's comparison."""
    if (
        migration.dialect.name == "sqlite"
        and type(metadata_type) is sa.String
        and isinstance(inspected_type, sa.VARCHAR)
    ):
        return False
    return None


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=_compare_type,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_configure)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    asyncio.run(_run_async(config.get_main_option("sqlalchemy.url") or ""))


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported: run `xtrack db upgrade`")
run_migrations_online()
