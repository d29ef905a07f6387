"""Celery executor: hands the ids of QUEUED executions to Redis or RabbitMQ
(``XTRACK_EXECUTOR=celery``, ``XTRACK_BROKER_URL``), where ``xtrack worker`` processes on any number
of machines take them (the worker process itself is ``xtrack/worker.py``).

Tasks take ids and are idempotent: the runner's claim (QUEUED -> RUNNING, fenced on the attempt)
skips an execution that is gone, not QUEUED any more, or waiting for its ``not_before`` (the
dispatcher hands it out again once that time has passed). Tasks are ``acks_late``: a message is
acknowledged only when its run is over, so a worker killed mid-run leaves it to be redelivered; the
database re-queues the run anyway (the reaper, after the lease) and a redelivered duplicate is
skipped by the claim.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from celery import Celery

from xtrack.config import Settings
from xtrack.observability import get_logger

logger = get_logger("xtrack.celery")

RUN_EXECUTION = "xtrack.run_execution"
DELIVER_NOTIFICATIONS = "xtrack.deliver_notifications"
TASK_OPTIONS: dict[str, Any] = {"acks_late": True, "reject_on_worker_lost": True, "ignore_result": True}
"""Options every XTrack task is registered with."""


def make_celery(settings: Settings) -> Celery:
    """The Celery app for ``settings`` (broker, queue, serialisation); the worker registers the task
    bodies on it (``xtrack.worker.make_worker_app``), publishers send tasks by name."""
    app = Celery("xtrack", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        task_default_queue=settings.celery_queue,
        task_serializer="json",
        accept_content=["json"],
        # Each pool thread takes one message at a time: a message waits in the broker, where any
        # worker can take it, rather than in a busy worker's buffer.
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        broker_connection_retry_on_startup=True,
        # Redis: an unacknowledged message comes back after this long. A run lasts seconds; the
        # database hands out a lost run long before (reaper + dispatcher), and the claim skips the copy.
        broker_transport_options={"visibility_timeout": 3600},
    )
    return app


class CeleryExecutor:
    """Hands execution ids to the broker; the runs happen in ``xtrack worker`` processes."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.queue = settings.celery_queue
        self.app = make_celery(settings)

    def _send(self, execution_ids: Sequence[int]) -> None:
        with self.app.producer_or_acquire() as producer:
            for execution_id in execution_ids:
                self.app.send_task(RUN_EXECUTION, args=[execution_id], queue=self.queue, producer=producer)

    async def submit(self, execution_ids: Sequence[int]) -> None:
        """Publish one message per id. A broker that cannot be reached is logged, not raised: the
        rows are QUEUED in the database and the dispatcher hands them out again after a lease."""
        if not execution_ids:
            return
        ids = list(execution_ids)
        try:
            # kombu is synchronous: keep its network I/O off the event loop.
            await asyncio.to_thread(self._send, ids)
        except Exception as exc:
            logger.error(
                "executor.submit_failed", executions=len(ids), error=f"{type(exc).__name__}: {exc}"[:300]
            )

    async def trigger_notifications(self) -> None:
        """Ask a worker to deliver the due notifications (``xtrack.deliver_notifications``)."""
        try:
            await asyncio.to_thread(self.app.send_task, DELIVER_NOTIFICATIONS, queue=self.queue)
        except Exception as exc:  # the next notify tick asks again
            logger.error("executor.notify_trigger_failed", error=f"{type(exc).__name__}: {exc}"[:300])

    async def start(self) -> None:
        return None

    async def stop(self, *, grace_seconds: float = 30.0) -> None:
        await asyncio.to_thread(self.app.close)
