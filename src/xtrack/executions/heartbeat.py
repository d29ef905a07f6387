"""Heartbeats, batched per process: one UPDATE every few seconds refreshes ``heartbeat_at`` of
every execution this process is running (invariant 3), instead of one write per run.

The runner registers an execution after claiming it and unregisters it when done; the beating task
runs only while something is registered, on whatever event loop registered it, so it needs no
explicit start (a Celery worker's loop thread and ``xtrack serve`` use it the same way). The runtime
makes one per process, beating every third of the lease, and stops it at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import update

from xtrack.config import DEFAULT_LEASE_SECONDS
from xtrack.db import Database, utcnow
from xtrack.executions.models import ExecutionStatus, JobExecution
from xtrack.observability import get_logger

logger = get_logger("xtrack.heartbeat")

MIN_INTERVAL_SECONDS = 0.05


class Heartbeats:
    """The executions running in this process, and the task that keeps their heartbeats fresh."""

    def __init__(
        self,
        *,
        interval_seconds: float | None = None,
        clock: Callable[[], datetime] = utcnow,
        auto_start: bool = True,
    ) -> None:
        """``auto_start=False``: never beat on its own (tests call ``beat()``)."""
        self._interval = interval_seconds
        self._auto_start = auto_start
        self._clock = clock
        self._running: dict[int, Database] = {}
        self._task: asyncio.Task[None] | None = None
        self.beats = 0

    @classmethod
    def for_lease(cls, lease_seconds: float) -> Heartbeats:
        """Beating every third of the lease: two beats may be lost before the reaper steps in."""
        return cls(interval_seconds=max(MIN_INTERVAL_SECONDS, lease_seconds / 3))

    @property
    def interval(self) -> float:
        if self._interval is not None:
            return self._interval
        return DEFAULT_LEASE_SECONDS / 3

    @property
    def running(self) -> frozenset[int]:
        return frozenset(self._running)

    def add(self, execution_id: int, database: Database) -> None:
        self._running[execution_id] = database
        if not self._auto_start:
            return
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = loop.create_task(self._beat_while_running(), name="xtrack-heartbeats")

    def discard(self, execution_id: int) -> None:
        self._running.pop(execution_id, None)

    async def beat(self, *, now: datetime | None = None) -> int:
        """Refresh every registered RUNNING execution in one UPDATE per database; returns rows touched."""
        now = now or self._clock()
        by_database: dict[Database, list[int]] = defaultdict(list)
        for execution_id, database in list(self._running.items()):
            by_database[database].append(execution_id)
        touched = 0
        for database, ids in by_database.items():
            try:
                async with database.session() as session:
                    result = await session.execute(
                        update(JobExecution)
                        .where(JobExecution.id.in_(ids), JobExecution.status == ExecutionStatus.RUNNING.value)
                        .values(heartbeat_at=now)
                        .execution_options(synchronize_session=False)
                    )
                    touched += int(getattr(result, "rowcount", 0) or 0)
            except Exception:  # a missed beat is survivable (the lease allows for it); never crash
                logger.exception("heartbeat.failed", executions=len(ids))
        self.beats += 1
        return touched

    async def _beat_while_running(self) -> None:
        while self._running:
            await asyncio.sleep(self.interval)
            if self._running:
                await self.beat()

    async def stop(self) -> None:
        self._running.clear()
        task, self._task = self._task, None
        if task is not None and not task.done() and task.get_loop() is asyncio.get_running_loop():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
