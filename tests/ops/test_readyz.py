"""/readyz: database, broker (celery) and a live scheduler, each named when it fails."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx

from tests.conftest import current_database
from tests.executions.conftest import RecordingExecutor
from xtrack.config import Settings
from xtrack.db import Database, utcnow
from xtrack.ops.maintenance import PRUNE_TASK, beat, claim_daily, finish_daily, heartbeat_stale_after
from xtrack.runtime import SchedulerLoop
from xtrack.web.app import create_app


async def _readyz(settings: Settings) -> httpx.Response:
    app = create_app(settings, database=current_database())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        return await http.get("/readyz")


async def test_ready_with_a_fresh_heartbeat(db: Database, settings: Settings) -> None:
    now = utcnow()
    await beat(db, instance_id="test-scheduler", now=now, started_at=now)
    response = await _readyz(settings)
    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {"database": "ok", "scheduler": "ok"}


async def test_503_when_the_scheduler_heartbeat_is_stale(db: Database, settings: Settings) -> None:
    stale = utcnow() - heartbeat_stale_after(settings) - timedelta(seconds=5)
    await beat(db, instance_id="dead-scheduler", now=stale, started_at=stale)
    response = await _readyz(settings)
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["scheduler"] and body["checks"]["database"] == "ok"
    assert "heartbeat" in body["scheduler"]


async def test_503_when_no_scheduler_ever_ran(db: Database, settings: Settings) -> None:
    response = await _readyz(settings)
    assert response.status_code == 503 and response.json()["failed"] == ["scheduler"]


async def test_the_scheduler_loop_writes_the_heartbeat(db: Database, settings: Settings) -> None:
    # Today's prune is done: the loop only ticks and beats (a prune task would share the test's
    # single connection with the ticks).
    now = utcnow()
    assert await claim_daily(db, task=PRUNE_TASK, holder="earlier", now=now)
    await finish_daily(db, task=PRUNE_TASK, holder="earlier", now=now, result={})
    loop = SchedulerLoop(
        db, settings.model_copy(update={"scheduler_tick_seconds": 0.05}), RecordingExecutor()
    )
    await loop.start()
    try:
        for _ in range(200):
            if loop.ticks >= 2:
                break
            await asyncio.sleep(0.02)
    finally:
        await loop.stop()
    response = await _readyz(settings)
    assert loop.ticks >= 2
    assert response.status_code == 200, response.text


async def test_broker_is_checked_with_celery(db: Database, settings: Settings) -> None:
    now = utcnow()
    await beat(db, instance_id="test-scheduler", now=now, started_at=now)
    up = settings.model_copy(update={"executor": "celery", "broker_url": "redis://127.0.0.1:6379/15"})
    response = await _readyz(up)
    assert response.status_code == 200, response.text
    assert response.json()["checks"]["broker"] == "ok"
    down = settings.model_copy(
        update={"executor": "celery", "broker_url": "redis://:pw-secret@127.0.0.1:1/0"}
    )
    response = await _readyz(down)
    assert response.status_code == 503
    assert response.json()["failed"] == ["broker"] and "pw-secret" not in response.text


async def test_rabbitmq_broker(db: Database, settings: Settings) -> None:
    now = utcnow()
    await beat(db, instance_id="test-scheduler", now=now, started_at=now)
    rabbit = settings.model_copy(
        update={"executor": "celery", "broker_url": "amqp://guest:guest@127.0.0.1:5672//"}
    )
    response = await _readyz(rabbit)
    assert response.status_code == 200, response.text
