"""The local executor: runs executions as asyncio tasks in this process (``xtrack serve``,
``xtrack scheduler`` with XTRACK_EXECUTOR=local), at most ``concurrency`` at a time.

Ids wait in an in-memory queue drained by up to ``concurrency`` worker tasks (the same limit as a
semaphore, without a parked task per waiting id). Nothing is lost when the process dies: the rows
are QUEUED or RUNNING in the database, and the dispatcher and reaper hand them out again.

Back-pressure: with ``max_waiting`` set (the runtime sets it to ``concurrency``), ids beyond
``concurrency + max_waiting`` are not kept here: their rows are marked for the next scheduler tick
(``queued_at`` NULL), so a burst waits in the database, not in this process's memory.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy import update

from xtrack.db import Database
from xtrack.executions.models import ExecutionStatus, JobExecution
from xtrack.observability import get_logger

logger = get_logger("xtrack.executor")

RunFn = Callable[[int], Awaitable[None]]


class LocalExecutor:
    def __init__(
        self,
        *,
        concurrency: int,
        run: RunFn,
        database: Database | None = None,
        max_waiting: int | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.concurrency = concurrency
        self.max_waiting = max_waiting
        self._run = run
        self._database = database
        self._waiting: deque[int] = deque()
        self._known: set[int] = set()  # waiting or running here: a second hand-out is ignored
        self._workers: set[asyncio.Task[None]] = set()
        self._starting = 0  # workers created that have not run yet
        self._stopping = False
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def in_flight(self) -> int:
        return len(self._known)

    async def start(self) -> None:
        self._stopping = False

    async def submit(self, execution_ids: Sequence[int]) -> None:
        if self._stopping:
            return
        room = None if self.max_waiting is None else self.concurrency + self.max_waiting
        overflow = []
        for execution_id in execution_ids:
            if execution_id in self._known:
                continue
            if room is not None and len(self._known) >= room:
                overflow.append(execution_id)
                continue
            self._known.add(execution_id)
            self._waiting.append(execution_id)
        # One new worker per waiting id, up to the limit (workers started but not yet running have
        # not taken theirs): starting up to ``concurrency`` workers per submit made a burst of 500
        # single-id submits create ~110,000 tasks that found nothing to do (2.5 s of CPU).
        for _ in range(min(len(self._waiting) - self._starting, self.concurrency - len(self._workers))):
            self._starting += 1
            self._idle.clear()
            worker = asyncio.get_running_loop().create_task(self._work(), name="xtrack-executor")
            self._workers.add(worker)
            worker.add_done_callback(self._worker_done)
        if overflow:
            logger.info("executor.full", left_to_scheduler=len(overflow), in_flight=len(self._known))
            await self._leave_to_scheduler(overflow)

    def _worker_done(self, worker: asyncio.Task[None]) -> None:
        self._workers.discard(worker)
        if not self._workers:
            self._idle.set()

    async def _work(self) -> None:
        self._starting -= 1
        while self._waiting and not self._stopping:
            execution_id = self._waiting.popleft()
            try:
                await self._run(execution_id)
            except asyncio.CancelledError:
                raise
            except Exception:  # the runner records failures itself; this is a bug or a dead database
                logger.exception("executor.run_failed", execution_id=execution_id)
            finally:
                self._known.discard(execution_id)

    async def wait_idle(self) -> None:
        """Until nothing is waiting or running (tests, and ``xtrack playground`` in a terminal)."""
        await self._idle.wait()

    async def stop(self, *, grace_seconds: float = 30.0) -> None:
        """Stop taking work, let running executions finish for up to ``grace_seconds``, then cancel
        the rest: the runner puts a cancelled execution back to QUEUED. Ids still waiting are
        marked for the next scheduler tick to hand out."""
        self._stopping = True
        waiting = list(self._waiting)
        self._waiting.clear()
        for execution_id in waiting:
            self._known.discard(execution_id)
        workers = set(self._workers)
        cancelled = 0
        if workers:
            _done, pending = await asyncio.wait(workers, timeout=grace_seconds)
            cancelled = len(pending)
            for worker in pending:
                worker.cancel()
            if pending:
                await asyncio.wait(pending, timeout=10)
        self._starting = 0  # a worker cancelled before it ran never counted itself off
        await self._leave_to_scheduler(waiting)
        logger.info("executor.stopped", released=len(waiting), cancelled=cancelled)

    async def _leave_to_scheduler(self, execution_ids: list[int]) -> None:
        """Mark QUEUED rows this process will not run for the next scheduler tick to hand out."""
        if not execution_ids or self._database is None:
            return
        try:
            async with self._database.session() as session:
                await session.execute(
                    update(JobExecution)
                    .where(
                        JobExecution.id.in_(execution_ids),
                        JobExecution.status == ExecutionStatus.QUEUED.value,
                    )
                    .values(queued_at=None)
                    .execution_options(synchronize_session=False)
                )
        except Exception:  # best effort: without it they are handed out again after a lease
            logger.exception("executor.release_failed", executions=len(execution_ids))
