"""Engine, sessions and the declarative base shared by every feature package."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from pydantic_core import from_json
from sqlalchemy import JSON, DateTime, MetaData, bindparam, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect, ExceptionContext
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

# Ids are PostgreSQL `integer` columns: a keyset bound above this can only mean "from the newest".
MAX_ID = 2**31 - 1

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database; naive values are refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: XTrack stores timezone-aware UTC times")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            # SQLite compares datetimes as text: store one fixed, naive-UTC format.
            return value.replace(tzinfo=None)
        return value

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        if dialect.name == "postgresql" and dialect.driver == "asyncpg":
            # asyncpg already returns ``timestamptz`` as an aware UTC datetime: nothing to do per value
            # (it was 7 calls per history row).
            return None
        return super().result_processor(dialect, coltype)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


def typed_param(name: str, column: Any) -> Any:
    """A bind parameter of a prebuilt statement, typed like ``column`` (so its value is processed
    as the column's are, e.g. UTCDateTime refusing naive datetimes)."""
    return bindparam(name, type_=column.type)


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


# A pooled connection idle for longer than this is pinged before it is handed out (a database
# restart or an idle timeout on the way drops idle connections). SQLAlchemy's ``pool_pre_ping``
# pings on every checkout instead: one extra round trip and ~0.4 ms of CPU per transaction, which
# was 15% of a run's CPU (see bench/RESULTS.md).
PING_IDLE_SECONDS = 5.0
_RETURNED_AT = "xtrack.returned_at"


def _ping_idle_connections(engine: AsyncEngine, idle_seconds: float) -> None:
    pool_events = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

    def remember(_dbapi_connection: Any, record: ConnectionPoolEntry, *_: Any) -> None:
        record.info[_RETURNED_AT] = time.monotonic()

    def ping_if_idle(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        returned_at = record.info.get(_RETURNED_AT)
        if returned_at is not None and time.monotonic() - returned_at <= idle_seconds:
            return
        try:
            alive = dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool discards this connection and checks out (or opens) another one.
            raise DisconnectionError("the pooled connection is gone") from exc
        if not alive:
            raise DisconnectionError("the pooled connection is gone")

    event.listen(pool_events, "connect", remember)
    event.listen(pool_events, "checkin", remember)
    event.listen(pool_events, "checkout", ping_if_idle)


# asyncpg's errors for a connection that is gone or a server not taking connections (terminated
# backend, shutdown, restart, still starting up, out of connection slots).
_CONNECTION_LOST = frozenset(
    {
        "ConnectionDoesNotExistError",
        "AdminShutdownError",
        "CrashShutdownError",
        "CannotConnectNowError",
        "ConnectionFailureError",
        "TooManyConnectionsError",
    }
)


def connection_lost(exc: BaseException) -> bool:
    """The error means the database connection was lost or could not be opened for a moment (not
    that the statement was wrong): the same work a moment later, on a new connection, can succeed."""
    error: BaseException | None = exc
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, DBAPIError) and error.connection_invalidated:
            return True
        if isinstance(error, DisconnectionError | ConnectionError):
            return True
        if type(error).__name__ in _CONNECTION_LOST or "connection is closed" in str(error):
            return True
        error = getattr(error, "orig", None) or error.__cause__ or error.__context__
    return False


def _drop_server_detail(context: ExceptionContext) -> None:
    """PostgreSQL's DETAIL line quotes row values ("Key (url)=(tgram://…) already exists", "Failing
    row contains (…)") and asyncpg prints it with the error: drop it, as ``hide_parameters`` drops
    the bound values, so a logged traceback carries no target URL or email (invariant 9)."""
    error: BaseException | None = context.original_exception
    while error is not None:
        if getattr(error, "detail", None):
            error.detail = None  # type: ignore[attr-defined]
        error = error.__cause__


def create_engine(
    url: str, *, pool_size: int = 10, echo: bool = False, ping_idle_seconds: float = PING_IDLE_SECONDS
) -> AsyncEngine:
    """An async engine; SQLite gets WAL, foreign keys and a busy timeout on every connection.
    JSON columns are read with pydantic-core's parser (~4x faster than ``json.loads`` on the small
    values every execution and history row carries).

    ``hide_parameters``: an error's text (and so a logged traceback) shows the statement but never its
    bound values, which include target URLs, emails and token hashes (invariant 9)."""
    if url.startswith("sqlite"):
        engine = create_async_engine(
            url,
            echo=echo,
            connect_args={"timeout": 10},
            json_deserializer=from_json,
            hide_parameters=True,
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        json_deserializer=from_json,
        hide_parameters=True,
    )
    _ping_idle_connections(engine, ping_idle_seconds)
    event.listen(engine.sync_engine, "handle_error", _drop_server_detail)
    return engine


class Database:
    """One engine and its session factory; a process usually has exactly one."""

    def __init__(self, engine: AsyncEngine, *, bind: AsyncConnection | None = None) -> None:
        self.engine = engine
        self._bind = bind
        self._autocommit_engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        if bind is None:
            self.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        else:
            # Tests: every session joins the outer transaction and commits become savepoints.
            self.sessionmaker = async_sessionmaker(
                bind=bind, expire_on_commit=False, join_transaction_mode="create_savepoint"
            )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: commits on success (then runs its after-commit hooks), rolls back on error."""
        async with self.sessionmaker() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise
            for hook in session.info.pop(_AFTER_COMMIT, []):
                await hook()

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncConnection]:
        """A connection on which every statement commits on its own: no BEGIN and COMMIT round
        trips. Only for statements that are atomic by themselves (a conditional UPDATE fenced in
        its WHERE, a read); anything that must commit together belongs in ``session()``."""
        if self._bind is not None:
            # Tests: inside the outer transaction, like the sessions (a savepoint per use).
            async with self._bind.begin_nested():
                yield self._bind
            return
        async with self._autocommit_engine.connect() as connection:
            yield connection

    async def execute_retrying(self, statement: Any, *, waits: tuple[float, ...]) -> Any:
        """One statement in a unit of work of its own, run again on a new connection (after each of
        ``waits`` seconds) while the connection is lost; only for statements safe to repeat."""
        for wait in (*waits, None):
            try:
                async with self.session() as session:
                    return await session.execute(statement)
            except Exception as exc:
                if wait is None or not connection_lost(exc):
                    raise
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    async def dispose(self) -> None:
        await self.engine.dispose()


_AFTER_COMMIT = "xtrack.after_commit"


def after_commit(session: AsyncSession, hook: Callable[[], Awaitable[None]]) -> None:
    """Run ``hook`` once the unit of work that owns ``session`` has committed (e.g. hand out work)."""
    session.info.setdefault(_AFTER_COMMIT, []).append(hook)
