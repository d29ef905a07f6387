"""A send whose outcome cannot be recorded because the database connection was lost meanwhile (a
PostgreSQL restart, found by the soak) is recorded on a new connection, not left to its lease
running out and sent a second time."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import asyncpg
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.conftest import fresh_database_url
from tests.executions.fakes import Clock, FakeSource
from tests.fakes.server import serve_app
from tests.notify.conftest import NEXT_ROUND, T0, Pipeline
from xtrack import migrate
from xtrack.config import Settings
from xtrack.db import Database, create_engine
from xtrack.notify import outbox
from xtrack.notify.models import DeliveryStatus, NotificationDelivery


class CuttingReceiver:
    """A webhook that, before answering 200, terminates every connection to the database: the
    sender's pooled connection is dead when it records the send."""

    def __init__(self, database_url: str) -> None:
        self.url = make_url(database_url)
        self.keys: list[str | None] = []
        self.lock = threading.Lock()

    async def handle(self, request: Request) -> JSONResponse:
        await request.body()
        with self.lock:
            self.keys.append(request.headers.get("idempotency-key"))
        conn = await asyncpg.connect(
            user=self.url.username or "postgres",
            host=self.url.host or "127.0.0.1",
            port=self.url.port or 5432,
            database="postgres",
        )
        try:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                self.url.database,
            )
        finally:
            await conn.close()
        return JSONResponse({"ok": True})


@pytest.fixture
async def own_pipeline(settings: Settings) -> AsyncIterator[Pipeline]:
    url = fresh_database_url("postgresql", "record_lost")
    await asyncio.to_thread(migrate.upgrade, url)
    database = Database(create_engine(url, pool_size=2))
    clock = Clock(T0)
    try:
        yield Pipeline(database, settings, clock, FakeSource(clock))
    finally:
        await database.dispose()


@pytest.fixture
def cutting(own_pipeline: Pipeline) -> Iterator[tuple[CuttingReceiver, str]]:
    receiver = CuttingReceiver(own_pipeline.db.engine.url.render_as_string(hide_password=False))
    app = Starlette(routes=[Route("/{path:path}", receiver.handle, methods=["POST"])])
    with serve_app(app) as base_url:
        yield receiver, base_url.removeprefix("http://")


async def test_a_send_is_recorded_once_the_connection_is_back_and_not_sent_again(
    own_pipeline: Pipeline, cutting: tuple[CuttingReceiver, str]
) -> None:
    pipeline = own_pipeline
    receiver, base = cutting
    user, job = await pipeline.user_and_job()
    hook = await pipeline.target(user, name="Hook", url=f"json://{base}/hook")
    await pipeline.choose(user, job, [hook])
    pipeline.source.publish(T0 - timedelta(minutes=5), "#AI news")
    await pipeline.run_due()

    first = await outbox.deliver_due(pipeline.db, pipeline.settings, now=T0)

    async with pipeline.db.session() as session:
        [delivery] = list(await session.scalars(select(NotificationDelivery)))
    assert first.sent == [delivery.id]
    assert delivery.status == DeliveryStatus.SENT.value and delivery.attempts == 1
    later = await outbox.deliver_all_due(pipeline.db, pipeline.settings, now=T0 + NEXT_ROUND)
    assert later.claimed == 0
    assert receiver.keys == [str(delivery.id)]
