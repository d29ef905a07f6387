"""The process loop that drains the outbox: delivery rounds every ``interval`` seconds, and at once
when the commit that writes deliveries nudges it (``outbox.nudge``).

It runs inside ``xtrack serve`` / ``xtrack scheduler`` and inside every Celery worker process, so a
run completed anywhere has its deliveries sent right after its commit; several loops at once are
safe (the outbox's claim hands each row to one sender).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime

from xtrack.config import Settings
from xtrack.db import Database, utcnow
from xtrack.notify import outbox
from xtrack.observability import get_logger

logger = get_logger("xtrack.notify")


class NotifyLoop:
    """Delivery rounds every ``interval`` seconds, and at once when nudged. With ``trigger`` (Celery)
    a round is handed to a worker instead, only when something is due."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
        interval: float | None = None,
        trigger: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.database = database
        self.settings = settings
        self.clock = clock
        self.interval = interval if interval is not None else settings.scheduler_tick_seconds
        self.trigger = trigger
        self.rounds = 0
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def run_once(self) -> outbox.Round | None:
        now = self.clock()
        self.rounds += 1
        if self.trigger is not None:
            if await outbox.has_due(self.database, now=now):
                await self.trigger()
            return None
        return await outbox.deliver_all_due(self.database, self.settings, now=now)

    async def run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                await self.run_once()
            except Exception:
                logger.exception("notify.round_failed")
            if self._stop.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)

    def wake(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    async def start(self) -> None:
        self._stop.clear()
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self.run(), name="xtrack-notify")
        outbox.listen(self.wake)

    async def stop(self) -> None:
        outbox.unlisten(self.wake)
        self._stop.set()
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
