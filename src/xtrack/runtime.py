"""The composition root: every process resource is opened and closed here, once, for every entry
point (``xtrack serve``, ``web``, ``scheduler``, ``worker``, ``playground``; the web app's lifespan).

What a process opens depends on what it does:

    every process      the database (unless the caller owns one: tests, benchmarks)
    runs=True          the source (one pooled HTTP client), the summarizers (the LLM client), the
                       heartbeats, and the run hooks (notification outbox rows written with a run)
    scheduler=True     the executor XTRACK_EXECUTOR names (local: runs here, so runs=True too),
                       the scheduler loop (reaper + dispatcher + housekeeping) and the notify loop
    notify=True        a notify loop delivering the outbox here (Celery workers)
    (none of these)    with XTRACK_EXECUTOR=celery, an executor that only publishes, so "Run now"
                       reaches a worker at once (``xtrack web``)

Services never reach for these: they receive what they need as arguments. ``close()`` is the one
shutdown path (SIGTERM, Ctrl-C, the end of a CLI command): stop ticking, finish or give back the runs
in flight, then close the loops, clients and database.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime

from xtrack.config import Settings
from xtrack.db import Database, create_engine, utcnow
from xtrack.executions import dispatcher, reaper
from xtrack.executions.executors.base import Executor
from xtrack.executions.executors.celery import CeleryExecutor
from xtrack.executions.executors.local import LocalExecutor
from xtrack.executions.heartbeat import Heartbeats
from xtrack.executions.hooks import RunHooks
from xtrack.executions.runner import run_execution
from xtrack.notify.loop import NotifyLoop
from xtrack.notify.outbox import RunNotifications
from xtrack.observability import get_logger
from xtrack.ops.maintenance import Housekeeping
from xtrack.sources.base import Source
from xtrack.sources.registry import build_sources
from xtrack.summarize.registry import Summarizers

logger = get_logger("xtrack.runtime")

DEFAULT_POOL_SIZE = 10
# Runs hold a connection only for short statements (never across an upstream call), so 20 (+20
# overflow) serve 1,000 runs in flight; PostgreSQL's max_connections (100) is shared by every
# process, and 50+50 from one `xtrack serve` hit "too many clients" in a burst beside other processes.
MAX_SCHEDULER_POOL_SIZE = 20


class SchedulerLoop:
    """Reaper + dispatcher on a timer, feeding ``executor``, with the housekeeping after each tick.
    Stateless: any number may run at once."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        executor: Executor,
        *,
        hooks: RunHooks | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.database = database
        self.settings = settings
        self.executor = executor
        self.hooks = hooks
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
            hooks=self.hooks,
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


class Runtime:
    """One process's resources; build it with :meth:`open`, end it with :meth:`close`."""

    def __init__(self, settings: Settings, database: Database, *, owns_database: bool) -> None:
        self.settings = settings
        self.database = database
        self._owns_database = owns_database
        self.source: Source | None = None
        self.summarizers: Summarizers | None = None
        self.heartbeats = Heartbeats.for_lease(settings.lease_seconds)
        self.hooks: RunHooks = RunNotifications(settings)
        self.executor: Executor | None = None
        self.scheduler: SchedulerLoop | None = None
        self.notify: NotifyLoop | None = None

    @classmethod
    async def open(
        cls,
        settings: Settings,
        *,
        database: Database | None = None,
        pool_size: int | None = None,
        runs: bool = False,
        scheduler: bool = False,
        notify: bool = False,
    ) -> Runtime:
        """Open what a process that does these things needs (see the module docstring)."""
        if database is None:
            size = pool_size or (_scheduler_pool_size(settings) if scheduler else DEFAULT_POOL_SIZE)
            database = Database(create_engine(settings.database_url, pool_size=size))
            runtime = cls(settings, database, owns_database=True)
        else:
            runtime = cls(settings, database, owns_database=False)
        try:
            await runtime._start(
                runs=runs or (scheduler and settings.executor == "local"), scheduler=scheduler
            )
            if notify or scheduler:
                await runtime._start_notify(hand_to_workers=scheduler and settings.executor == "celery")
        except BaseException:
            await runtime.close(grace_seconds=0)
            raise
        return runtime

    async def _start(self, *, runs: bool, scheduler: bool) -> None:
        settings = self.settings
        if runs:
            self.source = build_sources(settings)
            self.summarizers = Summarizers(settings)
        if settings.executor == "celery":
            self.executor = CeleryExecutor(settings)
        elif scheduler:
            self.executor = LocalExecutor(
                concurrency=settings.executor_concurrency,
                run=self.run,
                database=self.database,
                max_waiting=settings.executor_concurrency,
            )
        if self.executor is not None:
            await self.executor.start()
        if scheduler:
            assert self.executor is not None
            self.scheduler = SchedulerLoop(self.database, settings, self.executor, hooks=self.hooks)
            await self.scheduler.start()
            logger.info(
                "scheduler.started",
                executor=settings.executor,
                tick_seconds=settings.scheduler_tick_seconds,
                lease_seconds=settings.lease_seconds,
            )

    async def _start_notify(self, *, hand_to_workers: bool) -> None:
        """Deliver the outbox from this process, or (a scheduler with Celery) hand each round to a worker."""
        trigger = None
        if hand_to_workers and isinstance(self.executor, CeleryExecutor):
            trigger = self.executor.trigger_notifications
        self.notify = NotifyLoop(self.database, self.settings, trigger=trigger)
        await self.notify.start()

    async def run(self, execution_id: int) -> None:
        """Run one execution with this process's source, summarizers, heartbeats and hooks."""
        if self.source is None or self.summarizers is None:
            raise RuntimeError("this runtime was opened without runs=True")
        await run_execution(
            execution_id,
            database=self.database,
            settings=self.settings,
            source=self.source,
            summarizer=self.summarizers,
            heartbeats=self.heartbeats,
            hooks=self.hooks,
        )

    async def close(self, *, grace_seconds: float = 30.0) -> None:
        """Stop ticking, let the runs in flight finish (or give them back) within
        ``grace_seconds``, then close the loops, HTTP clients and the database."""
        was_scheduling = self.scheduler is not None
        if self.scheduler is not None:
            await self.scheduler.stop()
            self.scheduler = None
        if self.notify is not None:
            await self.notify.stop()
            self.notify = None
        if self.executor is not None:
            await self.executor.stop(grace_seconds=grace_seconds)
            self.executor = None
        await self.heartbeats.stop()
        if self.source is not None:
            await self.source.aclose()
            self.source = None
        if self.summarizers is not None:
            await self.summarizers.aclose()
            self.summarizers = None
        if self._owns_database:
            await self.database.dispose()
        if was_scheduling:
            logger.info("scheduler.stopped")


def _scheduler_pool_size(settings: Settings) -> int:
    return max(2, min(MAX_SCHEDULER_POOL_SIZE, settings.executor_concurrency))
