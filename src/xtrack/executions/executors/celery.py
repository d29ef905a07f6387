"""Celery executor: ``xtrack worker`` processes on any number of machines run the executions
handed out through Redis or RabbitMQ.

Celery has no asyncio pool, so each worker process keeps ONE long-lived event loop in a thread
(with its database engine and pooled HTTP clients created once). Celery runs tasks on a thread pool;
each task hands its execution id to that loop and waits for it, so a process holds as many runs in
flight as it has pool threads while the actual work is I/O multiplexed on one loop. Tasks are
``acks_late``: a worker killed mid-run leaves its message to be redelivered, and the database
(reaper + dispatcher) re-queues and re-hands the execution anyway, so running one twice is harmless.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

from celery import Celery

from xtrack.config import Settings, get_settings

T = TypeVar("T")

QUEUE = "xtrack"
RUN_EXECUTION = "xtrack.run_execution"


def make_celery(settings: Settings) -> Celery:
    app = Celery("xtrack", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        task_default_queue=QUEUE,
        task_serializer="json",
        accept_content=["json"],
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": 3600},
    )
    app.task(name=RUN_EXECUTION, ignore_result=True)(run_execution_task)
    return app


class LoopThread:
    """The worker process's single event loop, running in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="xtrack-loop", daemon=True)
        self._thread.start()

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.submit(coro).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)


_loop_thread: LoopThread | None = None
_loop_lock = threading.Lock()


def process_loop() -> LoopThread:
    """The process's loop, started (with its database and heartbeats) on first use."""
    global _loop_thread
    with _loop_lock:
        if _loop_thread is None:
            loop_thread = LoopThread()
            loop_thread.run(_start_process_services(get_settings()))
            _loop_thread = loop_thread
        return _loop_thread


async def _start_process_services(settings: Settings) -> None:
    # Heartbeats start by themselves on this loop when the first run registers.
    from xtrack.db import init_database

    init_database(settings.database_url, pool_size=min(50, settings.executor_concurrency))


def run_execution_task(execution_id: int) -> None:
    """Celery task body: run one execution on the process's loop and wait for it."""
    from xtrack.executions.runner import run_execution

    process_loop().run(run_execution(execution_id))


class CeleryExecutor:
    """Hands execution ids to the broker; the runs happen in ``xtrack worker`` processes."""

    def __init__(self, settings: Settings) -> None:
        self.app = make_celery(settings)

    def _send(self, execution_ids: Sequence[int]) -> None:
        with self.app.producer_or_acquire() as producer:
            for execution_id in execution_ids:
                self.app.send_task(RUN_EXECUTION, args=[execution_id], queue=QUEUE, producer=producer)

    async def submit(self, execution_ids: Sequence[int]) -> None:
        if execution_ids:
            # kombu is synchronous: keep its network I/O off the event loop.
            await asyncio.to_thread(self._send, list(execution_ids))

    async def start(self) -> None:
        return None

    async def stop(self, *, grace_seconds: float = 30.0) -> None:
        await asyncio.to_thread(self.app.close)


def worker_argv(settings: Settings, *, concurrency: int | None, loglevel: str) -> list[str]:
    return [
        "worker",
        "--pool=threads",
        f"--concurrency={concurrency or settings.executor_concurrency}",
        f"--loglevel={loglevel}",
        f"--queues={QUEUE}",
        "--without-gossip",
        "--without-mingle",
    ]
