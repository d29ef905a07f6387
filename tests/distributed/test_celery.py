"""The Celery executor's parts in this process: app configuration, publishing to a real broker, the
worker's process loop running the task body, idempotency, shutdown, and the worker command."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from kombu import Connection
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from tests.conftest import fresh_database_url, wait_until
from tests.distributed.cluster import BROKERS, delete_queue, queue_length, unique_queue
from tests.fakes.server import free_port, serve_app
from tests.sources.fakes import FakeX
from xtrack import migrate, worker
from xtrack.config import Settings, get_settings
from xtrack.db import Database, create_engine, utcnow
from xtrack.executions.executors import celery as celery_executor
from xtrack.executions.executors.celery import (
    DELIVER_NOTIFICATIONS,
    RUN_EXECUTION,
    CeleryExecutor,
)
from xtrack.executions.models import ExecutionStatus, JobExecution, Trigger
from xtrack.jobs import service as jobs_service
from xtrack.jobs.schemas import JobCreate
from xtrack.runtime import Runtime
from xtrack.summaries.models import Summary
from xtrack.users import service as users_service
from xtrack.users.models import UserStatus
from xtrack.worker import (
    PrestartThreads,
    deliver_notifications_task,
    run_execution_task,
    start_process_loop,
    stop_process_loop,
    worker_argv,
)

pytestmark = pytest.mark.xdist_group("processes")


def celery_settings(settings: Settings, **changes: Any) -> Settings:
    return settings.model_copy(
        update={
            "executor": "celery",
            "broker_url": BROKERS["redis"],
            "celery_queue": unique_queue(),
            **changes,
        }
    )


def test_the_app_acks_late_on_the_configured_queue_and_the_worker_uses_threads(settings: Settings) -> None:
    configured = celery_settings(settings, executor_concurrency=250)
    app = worker.make_worker_app(configured)
    task = app.tasks[RUN_EXECUTION]
    assert task.acks_late and task.ignore_result
    assert app.conf.task_default_queue == configured.celery_queue
    assert app.conf.worker_prefetch_multiplier == 1 and app.conf.accept_content == ["json"]
    argv = worker_argv(configured)
    assert argv[0] == "worker" and "--pool=threads" in argv and "--concurrency=250" in argv
    assert f"--queues={configured.celery_queue}" in argv
    assert "--concurrency=7" in worker_argv(configured, concurrency=7)
    assert asyncio.run(_executor_of(configured)) is CeleryExecutor


async def _executor_of(settings: Settings) -> type | None:
    """The kind of executor a web process's runtime hands manual runs to."""
    runtime = await Runtime.open(settings)
    try:
        return type(runtime.executor) if runtime.executor is not None else None
    finally:
        await runtime.close()


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
async def test_submit_publishes_one_message_per_execution(broker: str, settings: Settings) -> None:
    configured = celery_settings(settings, broker_url=BROKERS[broker])
    executor = CeleryExecutor(configured)
    try:
        await executor.submit([11, 12, 13])
        await executor.submit([])

        # RabbitMQ routes a publish after the socket write returns, so the count is awaited.
        async def three_queued() -> bool:
            return await asyncio.to_thread(queue_length, BROKERS[broker], configured.celery_queue) == 3

        await wait_until(three_queued, timeout=10, what="three messages on the queue")
        with Connection(BROKERS[broker]) as connection:
            queue = connection.SimpleQueue(configured.celery_queue)
            bodies = []
            for _ in range(3):
                message = queue.get(timeout=5)
                bodies.append((message.headers["task"], message.decode()))
                message.ack()
            with pytest.raises(queue.Empty):
                queue.get(timeout=1)  # and no fourth one for the empty submit
            queue.close()
        assert [task for task, _body in bodies] == [RUN_EXECUTION] * 3
        assert [body[0] for _task, body in bodies] == [[11], [12], [13]]  # (args, kwargs, embed)
    finally:
        await executor.stop()
        delete_queue(BROKERS[broker], configured.celery_queue)


async def test_an_unreachable_broker_is_logged_not_raised(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows stay QUEUED in the database; the dispatcher hands them out again after a lease."""
    logged: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(
        celery_executor.logger, "error", lambda event, **fields: logged.append((event, fields))
    )
    executor = CeleryExecutor(celery_settings(settings, broker_url=f"redis://127.0.0.1:{free_port()}/0"))
    try:
        await asyncio.wait_for(executor.submit([1, 2]), timeout=30)
    finally:
        await executor.stop()
    assert [(event, fields["executions"]) for event, fields in logged] == [("executor.submit_failed", 2)]
    assert "Error" in logged[0][1]["error"]


def test_the_threads_pool_is_started_whole_before_the_worker_is_ready() -> None:
    executor = ThreadPoolExecutor(max_workers=12)
    try:
        assert len(executor._threads) == 0  # the pool's own default: a thread per message, later
        PrestartThreads(None).start(SimpleNamespace(pool=SimpleNamespace(executor=executor, limit=12)))
        assert len(executor._threads) == 12
        # Every thread is idle again: the next messages start no thread.
        assert all(executor.submit(lambda: None).result(timeout=5) is None for _ in range(30))
        assert len(executor._threads) == 12
    finally:
        executor.shutdown()
    PrestartThreads(None).start(SimpleNamespace(pool=SimpleNamespace()))  # another pool: left alone


@pytest.fixture
def fresh_database(settings: Settings) -> Iterator[str]:
    url = fresh_database_url("postgresql", "celery_loop")
    migrate.upgrade(url)
    yield url


async def _seed(url: str) -> dict[str, int]:
    """Executions in every state the task may meet; returns their ids by name."""
    database = Database(create_engine(url, pool_size=2))
    now = utcnow()
    try:
        async with database.session() as session:
            owner = await users_service.create(
                session,
                email="loop@example.com",
                password="correct horse battery",
                status=UserStatus.ACTIVE,
                settings=get_settings(),
            )
            ids = {}
            for name in ("due", "later", "done"):
                job = await jobs_service.create(
                    session, owner=owner, data=JobCreate(x_username=f"demo{name}"), max_jobs=50, now=now
                )
                execution = JobExecution(
                    job_id=job.id,
                    user_id=owner.id,
                    status=(ExecutionStatus.COMPLETED if name == "done" else ExecutionStatus.QUEUED).value,
                    trigger=Trigger.MANUAL.value,
                    params={"x_username": job.x_username, "topics": [], "language": "en"},
                    created_at=now,
                    queued_at=now,
                    completed_at=now if name == "done" else None,
                    not_before=now + timedelta(hours=1) if name == "later" else None,
                    attempt=1,
                )
                session.add(execution)
                await session.flush()
                ids[name] = execution.id
            return ids
    finally:
        await database.dispose()


async def _state(url: str) -> tuple[dict[int, tuple[str, Any]], int]:
    database = Database(create_engine(url, pool_size=1))
    try:
        async with database.session() as session:
            query = select(JobExecution.id, JobExecution.status, JobExecution.started_at)
            rows = await session.execute(query)
            summaries = await session.scalar(select(func.count()).select_from(Summary))
            return {row.id: (row.status, row.started_at) for row in rows}, int(summaries or 0)
    finally:
        await database.dispose()


def test_the_task_runs_on_the_process_loop_once_and_skips_what_is_not_due(
    fresh_database: str, settings: Settings
) -> None:
    ids = asyncio.run(_seed(fresh_database))
    configured = settings.model_copy(update={"database_url": fresh_database, "source": "demo"})
    loop = start_process_loop(configured, concurrency=8)
    try:
        assert worker.process_loop() is loop
        assert loop.runtime.source is not None  # opened at start: the first run does not build the client
        run_execution_task(ids["due"])
        run_execution_task(ids["due"])  # a redelivered message: the claim skips it
        run_execution_task(ids["later"])  # not_before in the future: left QUEUED for the dispatcher
        run_execution_task(ids["done"])
        run_execution_task(10_000_000)  # gone (job deleted): nothing to do
        assert loop.runtime.database.engine.url.database == make_url(fresh_database).database
    finally:
        stop_process_loop(grace_seconds=5)
    states, summaries = asyncio.run(_state(fresh_database))
    assert states[ids["due"]][0] == ExecutionStatus.COMPLETED.value
    assert states[ids["later"]] == (ExecutionStatus.QUEUED.value, None)
    assert states[ids["done"]] == (ExecutionStatus.COMPLETED.value, None)
    assert summaries == 1
    # Shut down: the loop stopped, its engine disposed and its HTTP clients closed.
    assert loop.loop.is_closed()
    assert worker._process_loop is None
    with pytest.raises(RuntimeError):
        loop.runtime  # noqa: B018 - closed with the loop


def test_no_database_connection_is_held_across_an_upstream_call(
    fresh_database: str, settings: Settings
) -> None:
    """While the fake X is answering (slowly), the worker's engine has no connection checked out."""
    fake = FakeX()
    fake.delay = 0.3
    for name in ("alpha", "bravo", "charlie"):
        user = fake.add_user(name)
        fake.add_posts(user, 3, start=utcnow() - timedelta(hours=2))
    held: list[tuple[str, int]] = []
    original_answer, original_intercept = fake.answer, fake._intercept

    def checked_out() -> int:
        pool: Any = worker.process_loop().runtime.database.engine.sync_engine.pool
        return int(pool.checkedout())

    async def answer(response: Any) -> Any:
        result = await original_answer(response)  # the delay: the run is waiting on us now
        held.append(("timeline", checked_out()))
        return result

    async def intercept(request: Any) -> Any:
        held.append((request.url.path.split("/")[2], checked_out()))
        return await original_intercept(request)

    fake.answer = answer  # type: ignore[method-assign]
    fake._intercept = intercept  # type: ignore[method-assign]
    with serve_app(fake.app) as base_url:
        configured = settings.model_copy(
            update={
                "database_url": fresh_database,
                "source": "x",
                "x_api_url": base_url,
                "x_bearer_token": SecretStr("good-token"),
            }
        )
        asyncio.run(_jobs(fresh_database, ["alpha", "bravo", "charlie"]))
        ids = sorted(asyncio.run(_state(fresh_database))[0])
        start_process_loop(configured, concurrency=4)
        try:
            for execution_id in ids:
                run_execution_task(execution_id)
        finally:
            stop_process_loop(grace_seconds=5)
    states, summaries = asyncio.run(_state(fresh_database))
    assert {status for status, _started in states.values()} == {ExecutionStatus.COMPLETED.value}
    assert summaries == 3
    assert [kind for kind, _count in held].count("timeline") == 3
    assert held and all(count == 0 for _kind, count in held), held


async def _jobs(url: str, usernames: list[str]) -> None:
    database = Database(create_engine(url, pool_size=2))
    now = utcnow()
    try:
        async with database.session() as session:
            owner = await users_service.create(
                session,
                email="held@example.com",
                password="correct horse battery",
                status=UserStatus.ACTIVE,
                settings=get_settings(),
            )
            for username in usernames:
                job = await jobs_service.create(
                    session, owner=owner, data=JobCreate(x_username=username), max_jobs=50, now=now
                )
                session.add(
                    JobExecution(
                        job_id=job.id,
                        user_id=owner.id,
                        status=ExecutionStatus.QUEUED.value,
                        trigger=Trigger.MANUAL.value,
                        params={"x_username": username, "topics": [], "language": "en"},
                        created_at=now,
                        queued_at=now,
                        attempt=1,
                    )
                )
    finally:
        await database.dispose()


def _xtrack(*argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xtrack", *argv],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_worker_command_refuses_the_local_executor_and_an_unreachable_database() -> None:
    local = _xtrack("worker", XTRACK_EXECUTOR="local")
    assert local.returncode == 2
    assert "XTRACK_EXECUTOR must be celery" in local.stderr and "Traceback" not in local.stderr
    no_database = _xtrack(
        "worker",
        XTRACK_EXECUTOR="celery",
        XTRACK_BROKER_URL=BROKERS["redis"],
        XTRACK_DATABASE_URL=f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nothing",
    )
    assert no_database.returncode == 1, no_database.stderr
    assert "cannot reach the database" in no_database.stderr and "Traceback" not in no_database.stderr


async def test_the_notify_trigger_publishes_the_delivery_task(settings: Settings) -> None:
    configured = celery_settings(settings)
    executor = CeleryExecutor(configured)
    try:
        await executor.trigger_notifications()
        with Connection(configured.broker_url) as connection:
            queue = connection.SimpleQueue(configured.celery_queue)
            message = queue.get(timeout=5)
            task = message.headers["task"]
            message.ack()
            queue.close()
        assert task == DELIVER_NOTIFICATIONS
        assert worker.make_worker_app(configured).tasks[DELIVER_NOTIFICATIONS].acks_late
    finally:
        await executor.stop()
        delete_queue(BROKERS["redis"], configured.celery_queue)


async def _seed_delivery(url: str, hook_url: str) -> int:
    """One due outbox row for a webhook target, built like the sender finds them."""
    from xtrack.notify import content
    from xtrack.notify import targets as notify_targets
    from xtrack.notify.models import NotificationDelivery
    from xtrack.notify.schemas import TargetCreate

    database = Database(create_engine(url, pool_size=2))
    now = utcnow()
    try:
        async with database.session() as session:
            owner = await users_service.create(
                session,
                email="notify@example.com",
                password="correct horse battery",
                status=UserStatus.ACTIVE,
                settings=get_settings(),
            )
            target = await notify_targets.create_target(
                session,
                user=owner,
                data=TargetCreate(kind="apprise", name="Hook", url=hook_url),
                settings=get_settings(),
                now=now,
            )
            message = content.target_test_message(
                target_name=target.name, manage_url="https://x.test/targets"
            )
            delivery = NotificationDelivery(
                target_id=target.id,
                kind="test",
                next_attempt_at=now,
                created_at=now,
                payload=message.as_payload(),
            )
            session.add(delivery)
            await session.flush()
            return delivery.id
    finally:
        await database.dispose()


async def _delivery(url: str, delivery_id: int) -> tuple[str, int]:
    from xtrack.notify.models import NotificationDelivery

    database = Database(create_engine(url, pool_size=1))
    try:
        async with database.session() as session:
            row = await session.get(NotificationDelivery, delivery_id)
            assert row is not None
            return row.status, row.attempts
    finally:
        await database.dispose()


def test_the_delivery_task_sends_the_outbox_on_the_process_loop_once(
    fresh_database: str, settings: Settings
) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    received: list[str] = []

    async def hook(request: Request) -> JSONResponse:
        received.append((await request.json())["title"])
        return JSONResponse({})

    with serve_app(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as base:
        delivery_id = asyncio.run(
            _seed_delivery(fresh_database, f"json://{base.removeprefix('http://')}/hook")
        )
        configured = settings.model_copy(update={"database_url": fresh_database})
        start_process_loop(configured, concurrency=4)
        try:
            deliver_notifications_task()
            deliver_notifications_task()  # a second message for the same round: nothing due any more
        finally:
            stop_process_loop(grace_seconds=5)
    assert received == ["[XTrack] Test notification"]
    assert asyncio.run(_delivery(fresh_database, delivery_id)) == ("SENT", 1)
