"""Shared fixtures: settings for tests, an isolated database per test on SQLite and PostgreSQL,
an HTTP client on the app, and factories that build rows through the services."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

_TMP = Path(tempfile.mkdtemp(prefix="xtrack-tests-"))
# Cheap argon2 and a private data directory before anything reads the settings.
os.environ.update(
    {
        "XTRACK_ENV": "test",
        "XTRACK_ARGON2_TIME_COST": "1",
        "XTRACK_ARGON2_MEMORY_KIB": "8",
        "XTRACK_DATA_DIR": str(_TMP / "data"),
        "XTRACK_SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
        "XTRACK_DATABASE_URL": f"sqlite+aiosqlite:///{_TMP / 'default.db'}",
    }
)
for _name in [
    n
    for n in os.environ
    if n.startswith("XTRACK_")
    and n
    not in {
        "XTRACK_ENV",
        "XTRACK_ARGON2_TIME_COST",
        "XTRACK_ARGON2_MEMORY_KIB",
        "XTRACK_DATA_DIR",
        "XTRACK_SECRET_KEY",
        "XTRACK_DATABASE_URL",
        "XTRACK_TEST_DATABASE_URL",
    }
]:
    del os.environ[_name]

from tests.fakes.smtp import Inbox, running_smtp_server  # noqa: E402
from xtrack import migrate  # noqa: E402
from xtrack.config import Settings, get_settings, set_settings  # noqa: E402
from xtrack.db import Database, create_engine  # noqa: E402
from xtrack.executions.models import JobExecution  # noqa: E402
from xtrack.jobs.models import Job  # noqa: E402
from xtrack.users import service as users_service  # noqa: E402
from xtrack.users.models import User, UserStatus  # noqa: E402
from xtrack.web.app import create_app  # noqa: E402

# Fails a green run in which fewer tests ran than were collected, or any was skipped.
pytest_plugins = ["tests.run_count"]

PG_URL = os.environ.get("XTRACK_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
TEST_PASSWORD = "correct horse battery"


def _worker_suffix() -> str:
    # The pid keeps concurrent pytest runs (two developers, CI) from dropping each other's databases.
    return f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"


_CREATED_PG_DATABASES: set[str] = set()


async def _recreate_pg_database(label: str) -> str:
    """A private, empty PostgreSQL database for this test worker and label."""
    parsed = make_url(PG_URL)
    name = f"{parsed.database}_{label}_{_worker_suffix()}"[:63]
    _CREATED_PG_DATABASES.add(name)
    conn = await asyncpg.connect(
        user=parsed.username or "postgres",
        password=parsed.password,
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        database=parsed.database or "postgres",
    )
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return parsed.set(database=name).render_as_string(hide_password=False)


async def _drop_pg_databases(names: set[str]) -> None:
    parsed = make_url(PG_URL)
    conn = await asyncpg.connect(
        user=parsed.username or "postgres",
        password=parsed.password,
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        database=parsed.database or "postgres",
    )
    try:
        for name in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Drop the PostgreSQL databases this process created (their names are unique per process)."""
    if _CREATED_PG_DATABASES:
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(asyncio.run, _drop_pg_databases(set(_CREATED_PG_DATABASES))).result()


def fresh_database_url(kind: str, label: str) -> str:
    """An empty database of ``kind`` for tests that need their own (migrations, processes)."""
    if kind == "sqlite":
        path = _TMP / f"{label}-{_worker_suffix()}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite+aiosqlite:///{path}"
    # Its own thread and loop, so both sync fixtures and async tests can call it.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _recreate_pg_database(label)).result()


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, str]]:
    """A real SMTP server on 127.0.0.1 (aiosmtpd, its own thread); yields the inbox and its URL."""
    with running_smtp_server() as server:
        yield server


@pytest.fixture(scope="session")
def settings() -> Iterator[Settings]:
    current = get_settings()
    yield current


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """A migrated database of each kind, shared by the session; tests isolate through rollback."""
    url = fresh_database_url(request.param, "shared")
    migrate.upgrade(url)
    return url


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=5)
    yield engine
    await engine.dispose()


_current_database: Database | None = None


def current_database() -> Database:
    """The database of the test in progress (the ``db`` fixture's), for helpers that build an app."""
    if _current_database is None:
        raise RuntimeError("no test database: use the db fixture")
    return _current_database


@pytest.fixture
async def db(engine: AsyncEngine, settings: Settings) -> AsyncIterator[Database]:
    """A Database whose every session joins one outer transaction, rolled back after the test."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        if connection.dialect.name == "sqlite":
            # pysqlite only BEGINs before DML, so the sessions' first SAVEPOINT would open (and its
            # RELEASE commit) the real transaction; an explicit BEGIN keeps every test's writes inside
            # the outer transaction that is rolled back below.
            await connection.exec_driver_sql("BEGIN")
        database = Database(engine, bind=connection)
        global _current_database
        _current_database = database
        set_settings(settings)
        try:
            yield database
        finally:
            _current_database = None
            if transaction.is_active:
                await transaction.rollback()


@pytest.fixture
async def session(db: Database) -> AsyncIterator[AsyncSession]:
    async with db.sessionmaker() as session:
        yield session


@pytest.fixture
async def client(db: Database, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, database=db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def make_user(
    session: AsyncSession,
    *,
    email: str | None = None,
    status: UserStatus = UserStatus.ACTIVE,
    is_admin: bool = False,
    password: str = TEST_PASSWORD,
) -> User:
    """A user created through the users service."""
    make_user.counter += 1  # type: ignore[attr-defined]
    email = email or f"user{make_user.counter}-{os.getpid()}@example.com"  # type: ignore[attr-defined]
    user = await users_service.create(
        session,
        email=email,
        password=password,
        status=status,
        is_admin=is_admin,
        settings=get_settings(),
    )
    return user


make_user.counter = 0  # type: ignore[attr-defined]


async def make_job(
    session: AsyncSession,
    *,
    owner: User | None = None,
    x_username: str = "alice",
    topics: list[str] | None = None,
    frequency: int | str = 60,
    language: str = "en",
    now: datetime | None = None,
) -> Job:
    """A job created through the jobs service (due at ``now``); makes an ACTIVE owner when none is given."""
    from xtrack.db import utcnow
    from xtrack.jobs import service as jobs_service
    from xtrack.jobs.schemas import JobCreate

    owner = owner or await make_user(session)
    data = JobCreate(x_username=x_username, topics=topics or ["ai"], frequency=frequency, language=language)
    return await jobs_service.create(session, owner=owner, data=data, max_jobs=10_000, now=now or utcnow())


async def queue_playground_run(
    session: AsyncSession, owner: User, *, now: datetime, x_username: str = "alice"
) -> JobExecution:
    """A QUEUED playground run of ``owner`` (24 hours back, no topics), created through the
    playground service and committed, for the runner or a claim to take."""
    from xtrack.playground import service as playground_service

    run = await playground_service.create_execution(
        session,
        user_id=owner.id,
        x_username=x_username,
        topics=[],
        hours_back=24,
        language="en",
        now=now,
        executor=None,
    )
    await session.commit()
    return run


async def auth_headers(session: AsyncSession, user: User) -> dict[str, str]:
    """An ``Authorization`` header with a fresh API token of ``user``."""
    from xtrack.db import utcnow
    from xtrack.users.auth import create_api_token

    _token, plain = await create_api_token(session, user=user, name="tests", now=utcnow())
    await session.commit()
    return {"Authorization": f"Bearer {plain}"}


async def signed_in(client: httpx.AsyncClient, session: AsyncSession, user: User) -> str:
    """Sign ``user`` in on ``client`` (a web session cookie); returns the CSRF token its forms need.

    ``await client.post("/account/tokens", data={"csrf_token": csrf, "name": "x"})``
    """
    from xtrack.db import utcnow
    from xtrack.users.auth import SESSION_COOKIE, create_web_session
    from xtrack.web.csrf import token_for

    cookie = await create_web_session(session, user=user, now=utcnow(), settings=get_settings())
    await session.commit()
    client.cookies.set(SESSION_COOKIE, cookie)
    return token_for(cookie, get_settings())


async def wait_until(
    check: Callable[[], Awaitable[bool]], *, timeout: float, what: str, interval: float = 0.2
) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(interval)
