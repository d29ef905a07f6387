"""The scheduler loop: every XTRACK_SCHEDULER_TICK_SECONDS, reap lost runs, then tick the dispatcher
and hand the ids to the executor. Runs inside ``xtrack serve`` and as ``xtrack scheduler``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime

from xtrack.config import Settings
from xtrack.db import Database, utcnow
from xtrack.executions import dispatcher, reaper
from xtrack.executions.executors import get_executor
from xtrack.executions.executors.base import Executor
from xtrack.executions.heartbeat import HEARTBEATS
from xtrack.observability import get_logger
from xtrack.ops.maintenance import Housekeeping

logger = get_logger("xtrack.scheduler")


class SchedulerLoop:
    """Dispatcher + reaper on a timer, feeding ``executor``. Stateless: any number may run at once."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        executor: Executor,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.database = database
        self.settings = settings
        self.executor = executor
        self.clock = clock
        self.ticks = 0
        self.housekeeping = Housekeeping(database, settings)  # heartbeat for /readyz, daily prune
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> dispatcher.TickResult:
        now = self.clock()
        reaped = await reaper.reap(
            self.database,
            now=now,
            lease_seconds=self.settings.lease_seconds,
            max_attempts=self.settings.max_attempts,
        )
        result = await dispatcher.tick(
            self.database, now=now, executor=self.executor, lease_seconds=self.settings.lease_seconds
        )
        self.ticks += 1
        if reaped.requeued and not result.redelivered:
            logger.info("scheduler.reaped", requeued=len(reaped.requeued), failed=len(reaped.failed))
        return result

    async def run(self) -> None:
        """Tick until ``stop()``; a failing tick is logged and retried on the next one."""
        while not self._stop.is_set():
            try:
                await self.run_once()
                await self.housekeeping.on_tick(self.clock())
            except Exception:
                logger.exception("scheduler.tick_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.settings.scheduler_tick_seconds)

    async def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.get_running_loop().create_task(self.run(), name="xtrack-scheduler")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None
        await self.housekeeping.stop()


class Background:
    """Everything ``xtrack serve`` / ``xtrack scheduler`` run next to the web app: the executor
    from the settings and the scheduler loop feeding it."""

    def __init__(self, database: Database, settings: Settings, *, executor: Executor | None = None) -> None:
        self.executor = executor or get_executor(settings, database=database)
        self.loop = SchedulerLoop(database, settings, self.executor)
        self.settings = settings
        # Notifications: deliver the outbox here, or (Celery) hand each round to a worker.
        from xtrack.notify.outbox import NotifyLoop

        self.notify = NotifyLoop(
            database, settings, trigger=getattr(self.executor, "trigger_notifications", None)
        )

    async def start(self) -> None:
        await self.executor.start()
        await self.loop.start()
        await self.notify.start()
        logger.info(
            "scheduler.started",
            executor=self.settings.executor,
            tick_seconds=self.settings.scheduler_tick_seconds,
            lease_seconds=self.settings.lease_seconds,
        )

    async def stop(self, *, grace_seconds: float = 30.0) -> None:
        """Stop ticking, then let the executor finish or release its in-flight work."""
        await self.loop.stop()
        await self.notify.stop()
        await self.executor.stop(grace_seconds=grace_seconds)
        await HEARTBEATS.stop()
        from xtrack.sources.registry import close_sources
        from xtrack.summarize.registry import close_summarizers

        await close_sources()
        await close_summarizers()
        logger.info("scheduler.stopped")
