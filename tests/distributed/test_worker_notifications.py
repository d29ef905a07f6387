"""A run completed by a Celery worker has its notifications sent right after its commit: the worker
process runs a notify loop of its own that the commit wakes, so nothing waits for a scheduler's poll."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.conftest import fresh_database_url, wait_until
from tests.distributed.cluster import BROKERS, Cluster, delete_queue, publish, unique_queue
from tests.fakes.server import serve_app
from tests.sources.fakes import FakeX
from xtrack import migrate
from xtrack.config import Settings, get_settings
from xtrack.db import Database, create_engine, utcnow
from xtrack.executions.executors.celery import CeleryExecutor
from xtrack.executions.models import ExecutionStatus, JobExecution, Trigger
from xtrack.jobs import service as jobs_service
from xtrack.jobs.schemas import JobCreate
from xtrack.notify import targets as notify_targets
from xtrack.notify.models import NotificationDelivery
from xtrack.notify.schemas import JobTargetsUpdate, TargetCreate
from xtrack.users import service as users_service
from xtrack.users.models import UserStatus

pytestmark = [pytest.mark.process, pytest.mark.xdist_group("processes")]

# Longer than the test may take: the worker's notify loop polls once at start (nothing is due yet)
# and not again, and no scheduler runs, so only the nudge of the run's commit can deliver in time.
POLL_SECONDS = "600"


class Hook:
    """A webhook receiver keeping the title of every message it was sent."""

    def __init__(self) -> None:
        self.titles: list[str] = []
        self.lock = threading.Lock()

    async def handle(self, request: Request) -> JSONResponse:
        body = await request.json()
        with self.lock:
            self.titles.append(str(body.get("title")))
        return JSONResponse({"ok": True})

    def received(self) -> list[str]:
        with self.lock:
            return list(self.titles)


@pytest.fixture
def hook() -> Iterator[tuple[Hook, str]]:
    receiver = Hook()
    app = Starlette(routes=[Route("/hook", receiver.handle, methods=["POST"])])
    with serve_app(app) as base_url:
        yield receiver, f"json://{base_url.removeprefix('http://')}/hook"


@pytest.fixture
def fake_x() -> Iterator[tuple[FakeX, str]]:
    fake = FakeX()
    with serve_app(fake.app) as base_url:
        yield fake, base_url


@pytest.fixture
async def database() -> AsyncIterator[tuple[str, Database]]:
    url = fresh_database_url("postgresql", "worker_notify")
    await asyncio.to_thread(migrate.upgrade, url)
    database = Database(create_engine(url, pool_size=2))
    try:
        yield url, database
    finally:
        await database.dispose()


async def _queued_run_with_a_webhook(database: Database, hook_url: str) -> tuple[int, int]:
    """A job of @alice sending to the webhook, and a QUEUED run of it; returns (job id, execution id)."""
    now = utcnow()
    async with database.session() as session:
        owner = await users_service.create(
            session,
            email="notify@example.com",
            password="correct horse battery",
            status=UserStatus.ACTIVE,
            settings=get_settings(),
        )
        job = await jobs_service.create(
            session, owner=owner, data=JobCreate(x_username="alice", topics=["AI"]), max_jobs=50, now=now
        )
        target = await notify_targets.create_target(
            session,
            user=owner,
            data=TargetCreate(kind="apprise", name="Hook", url=hook_url),
            settings=get_settings(),
            now=now,
        )
        await notify_targets.set_job_targets(
            session, user=owner, job_id=job.id, data=JobTargetsUpdate(target_ids=[target.id]), now=now
        )
        execution = JobExecution(
            job_id=job.id,
            user_id=owner.id,
            status=ExecutionStatus.QUEUED.value,
            trigger=Trigger.MANUAL.value,
            params={"x_username": "alice", "topics": ["AI"], "language": "en"},
            created_at=now,
            queued_at=now,
            attempt=1,
        )
        session.add(execution)
        await session.flush()
        return job.id, execution.id


async def _deliveries(database: Database, job_id: int) -> list[tuple[str, str, int]]:
    async with database.session() as session:
        rows = await session.execute(
            select(NotificationDelivery.kind, NotificationDelivery.status, NotificationDelivery.attempts)
            .where(NotificationDelivery.job_id == job_id)
            .order_by(NotificationDelivery.id)
        )
        return [(kind, status, attempts) for kind, status, attempts in rows]


async def test_a_run_completed_by_a_worker_has_its_notification_sent_right_after_its_commit(
    database: tuple[str, Database],
    fake_x: tuple[FakeX, str],
    hook: tuple[Hook, str],
    settings: Settings,
    tmp_path: Path,
) -> None:
    url, db = database
    fake, x_url = fake_x
    receiver, hook_url = hook
    alice = fake.add_user("alice")
    publish(fake, alice, 3, start=utcnow() - timedelta(hours=3), step=timedelta(minutes=20))
    job_id, execution_id = await _queued_run_with_a_webhook(db, hook_url)
    queue = unique_queue()
    cluster = Cluster.create(
        tmp_path / "logs",
        database_url=url,
        broker_url=BROKERS["redis"],
        queue=queue,
        x_api_url=x_url,
        XTRACK_SCHEDULER_TICK_SECONDS=POLL_SECONDS,
        XTRACK_LEASE_SECONDS="30",
    )
    configured = settings.model_copy(
        update={"executor": "celery", "broker_url": BROKERS["redis"], "celery_queue": queue}
    )
    executor = CeleryExecutor(configured)
    try:
        cluster.start("worker", "worker")  # and no scheduler
        await cluster.wait_ready()
        await executor.submit([execution_id])

        async def delivered() -> bool:
            return bool(receiver.received())

        await wait_until(delivered, timeout=15, what="the summary at the webhook", interval=0.05)
        codes = cluster.terminate()
    finally:
        await executor.stop()
        cluster.close()
        delete_queue(BROKERS["redis"], queue)

    assert codes == {"worker": 0}, cluster.log("worker")[-3000:]
    assert "Traceback" not in cluster.log("worker"), cluster.log("worker")[-4000:]
    [title] = receiver.received()
    assert title.startswith("[XTrack] @alice")
    assert await _deliveries(db, job_id) == [("summary", "SENT", 1)]
    events: list[dict[str, Any]] = cluster.events("worker")
    assert [e["event"] for e in events if e.get("event") in ("execution.completed", "notify.sent")] == [
        "execution.completed",
        "notify.sent",
    ]
