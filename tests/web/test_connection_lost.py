"""A database connection lost under a request (a terminated backend, a restart) is a 503 with
Retry-After, never a 500; the request after it works on a fresh connection. PostgreSQL only: the
test terminates the app's own connections with ``pg_terminate_backend`` on a database of its own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from tests.conftest import auth_headers, fresh_database_url, make_job, make_user
from xtrack import migrate
from xtrack.config import Settings
from xtrack.db import Database, connection_lost, create_engine
from xtrack.web.app import create_app


@pytest.fixture
async def own_database() -> AsyncIterator[tuple[Database, str]]:
    url = fresh_database_url("postgresql", "connlost")
    await asyncio.to_thread(migrate.upgrade, url)
    database = Database(create_engine(url, pool_size=2))
    try:
        yield database, url
    finally:
        await database.dispose()


async def _terminate_connections(url: str) -> int:
    """Terminate every connection to the test's database, as an operator or a failover would."""
    parsed = make_url(url)
    conn = await asyncpg.connect(
        user=parsed.username or "postgres",
        password=parsed.password,
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        database="postgres",
    )
    try:
        killed = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", parsed.database
        )
    finally:
        await conn.close()
    return len(killed)


async def test_run_now_answers_503_with_retry_after_when_the_connection_is_terminated(
    own_database: tuple[Database, str], settings: Settings
) -> None:
    database, url = own_database
    async with database.session() as session:
        owner = await make_user(session)
        job = await make_job(session, owner=owner)
        headers = await auth_headers(session, owner)
        job_id = job.id
    app = create_app(settings, database=database)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        # Warm the pool: its connections were used a moment ago, so they are handed out unpinged.
        assert (await client.get(f"/api/v1/jobs/{job_id}", headers=headers)).status_code == 200
        assert await _terminate_connections(url) >= 1

        lost = await client.post(f"/api/v1/jobs/{job_id}/run", headers=headers)

        assert lost.status_code == 503, lost.text
        assert lost.headers["retry-after"] == "1"
        assert "try again" in lost.json()["detail"]
        again = await client.post(f"/api/v1/jobs/{job_id}/run", headers=headers)
        assert again.status_code == 202, again.text

        # A page answers the same way: a 503 page, not "Something went wrong".
        assert await _terminate_connections(url) >= 1
        page = await client.get(f"/jobs/{job_id}", headers=headers)
        assert page.status_code == 503 and page.headers["retry-after"] == "1"


async def test_connection_lost_tells_a_lost_connection_from_a_bad_statement(
    own_database: tuple[Database, str],
) -> None:
    database, url = own_database

    async with database.session() as session:
        await session.execute(text("SELECT 1"))
    await _terminate_connections(url)
    with pytest.raises(Exception) as lost:
        async with database.session() as session:
            await session.execute(text("SELECT 1"))
    assert connection_lost(lost.value)
    with pytest.raises(Exception) as bad:
        async with database.session() as session:
            await session.execute(text("SELECT * FROM no_such_table"))
    assert not connection_lost(bad.value)
    refused = Database(create_engine(url.replace(str(make_url(url).port), "1")))
    try:
        with pytest.raises(Exception) as down:
            async with refused.session() as session:
                await session.execute(text("SELECT 1"))
        assert connection_lost(down.value)
    finally:
        await refused.dispose()


async def test_a_database_refusing_connections_is_a_503_answered_not_raised(
    own_database: tuple[Database, str], settings: Settings
) -> None:
    """While PostgreSQL restarts, opening a connection fails with the socket's ConnectionRefusedError
    (not a DBAPIError): the answer is still a 503, and the error does not escape to the server."""
    _database, url = own_database
    refused = Database(create_engine(url.replace(str(make_url(url).port), "1")))
    app = create_app(settings, database=refused)
    transport = httpx.ASGITransport(app=app)  # raises whatever escapes the app
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.get("/api/v1/jobs", headers={"Authorization": "Bearer xt_not_checked"})
        assert response.status_code == 503 and response.headers["retry-after"] == "1"
    finally:
        await refused.dispose()


async def test_every_api_operation_declares_the_503_and_its_retry_after(client: httpx.AsyncClient) -> None:
    """A client generated from the schema knows a 503 may come and when to try again."""
    paths = (await client.get("/openapi.json")).json()["paths"]
    operations = [
        (path, method, operation)
        for path, item in paths.items()
        if path.startswith("/api/v1/")
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]
    assert len(operations) > 30
    undeclared = [
        f"{method.upper()} {path}"
        for path, method, operation in operations
        if "Retry-After" not in operation["responses"].get("503", {}).get("headers", {})
    ]
    assert undeclared == []
