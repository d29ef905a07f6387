"""``xtrack worker``: a Celery worker process running the executions (and notification rounds)
that schedulers and web processes hand out through the broker (``executions/executors/celery.py``).

Celery has no asyncio pool, so each worker process keeps ONE long-lived event loop in a thread
(:class:`ProcessLoop`), with the process's runtime opened once on it. Celery runs tasks on its
``threads`` pool; a task hands its execution id to that loop and waits for the run, so a process
holds as many runs in flight as it has pool threads (XTRACK_EXECUTOR_CONCURRENCY) while the work
itself is I/O multiplexed on the one loop: a worker is bounded by upstream latency, not by threads.
A waiting thread costs a few kilobytes and no CPU. The runtime's notify loop delivers the
notifications a run writes right after its commit.

Another task is added by registering it in :func:`make_worker_app` with ``TASK_OPTIONS`` and a body
that runs its coroutine with ``process_loop().run(...)``.

``xtrack.worker.app`` is the process's Celery app, the one ``xtrack worker`` runs, so Celery's own
tools find it with ``-A xtrack.worker`` (``celery -A xtrack.worker inspect ping``, ``events``,
flower). It is built from the process settings (XTRACK_BROKER_URL, XTRACK_CELERY_QUEUE) on first
use, not at import: importing this module needs no valid configuration.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from typing import Any, TypeVar

from celery import Celery, bootsteps, signals

from xtrack.config import Settings, get_settings
from xtrack.executions.executors.celery import DELIVER_NOTIFICATIONS, RUN_EXECUTION, TASK_OPTIONS, make_celery
from xtrack.notify.outbox import deliver_due_now
from xtrack.observability import get_logger
from xtrack.runtime import Runtime

logger = get_logger("xtrack.worker")

T = TypeVar("T")

# Runs only hold a database connection for short transactions (never across an upstream call), so a
# small pool serves hundreds of runs in flight; PostgreSQL's max_connections is shared by every process.
MAX_WORKER_POOL_SIZE = 20


_app: Celery | None = None


def worker_app(settings: Settings | None = None) -> Celery:
    """The process's worker app (``xtrack.worker.app``). ``xtrack worker`` builds it from the
    settings it runs with; Celery's CLI, asking for ``app`` first, gets one built from the process
    settings."""
    global _app
    if settings is not None or _app is None:
        _app = make_worker_app(settings or get_settings())
    return _app


def __getattr__(name: str) -> Celery:
    # `celery -A xtrack.worker` looks up `app` (then `celery`) on the module.
    if name in ("app", "celery"):
        return worker_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_worker_app(settings: Settings) -> Celery:
    """The Celery app with XTrack's task bodies and the worker's start-up and shutdown steps."""
    app = make_celery(settings)
    app.task(name=RUN_EXECUTION, **TASK_OPTIONS)(run_execution_task)
    app.task(name=DELIVER_NOTIFICATIONS, **TASK_OPTIONS)(deliver_notifications_task)
    app.steps["worker"].add(PromptShutdown)
    app.steps["worker"].add(PrestartThreads)
    return app


class PrestartThreads(bootsteps.StartStopStep):  # type: ignore[misc]
    """Start every thread of the ``threads`` pool before the worker says it is ready.

    The pool would otherwise start a thread for each of the first N messages, and ``Thread.start``
    waits for the new thread to run: while the process loop is busy with the runs already in
    flight, each start waits for the GIL, and a burst of 500 messages took seconds to hand out."""

    requires = ("celery.worker.components:Pool",)

    def start(self, parent: Any) -> None:
        pool = getattr(parent, "pool", None)
        executor, limit = getattr(pool, "executor", None), getattr(pool, "limit", 0)
        if executor is None or not limit:
            return  # not the threads pool
        everyone_started = threading.Barrier(limit + 1)
        for _ in range(limit):
            executor.submit(everyone_started.wait)
        everyone_started.wait(timeout=60)


class PromptShutdown(bootsteps.StartStopStep):  # type: ignore[misc]
    """Celery's signal handlers only set a flag that the worker's event loop checks between polls,
    and a poll may sleep up to 10 s when the next timer is far away (AMQP heartbeats): a timer
    every half second keeps SIGTERM's warm shutdown prompt."""

    requires = ("celery.worker.components:Hub",)

    def start(self, parent: Any) -> None:
        hub = getattr(parent, "hub", None)
        if hub is not None:
            hub.call_repeatedly(0.5, _wake)


def _wake() -> None:
    return None


def worker_pool_size(concurrency: int) -> int:
    """Database pool of a worker process running ``concurrency`` executions at once (the engine
    allows as many overflow connections again)."""
    return max(2, min(MAX_WORKER_POOL_SIZE, concurrency // 4))


class ProcessLoop:
    """The worker process's single event loop, running in a daemon thread, with the process's
    runtime (database, source and LLM clients, heartbeats, notify loop) living on it."""

    def __init__(self, settings: Settings, *, concurrency: int | None = None) -> None:
        self.settings = settings
        self.concurrency = concurrency or settings.executor_concurrency
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_forever, name="xtrack-loop", daemon=True)
        self._in_flight: set[Future[Any]] = set()
        self._in_flight_lock = threading.Lock()
        self._closed = False
        self._runtime: Runtime | None = None
        self._thread.start()

    def _run_forever(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError("the worker's runtime is not open")
        return self._runtime

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        """Schedule ``coro`` on the loop from any thread."""
        if self._closed:
            coro.close()
            raise RuntimeError("the worker's event loop is shut down")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        with self._in_flight_lock:
            self._in_flight.add(future)
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: Future[Any]) -> None:
        with self._in_flight_lock:
            self._in_flight.discard(future)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and wait for its result (from a thread other than the loop's)."""
        return self.submit(coro).result()

    async def _open(self) -> None:
        self._runtime = await Runtime.open(
            self.settings, pool_size=worker_pool_size(self.concurrency), runs=True, notify=True
        )
        # Fail at start, with one clear line, when the database cannot be reached (not at the first run).
        async with self._runtime.database.engine.connect():
            pass

    def open(self) -> None:
        self.run(self._open())

    async def _close_runtime(self) -> None:
        runtime, self._runtime = self._runtime, None
        if runtime is not None:
            await runtime.close(grace_seconds=0)

    def close(self, *, grace_seconds: float = 30.0) -> None:
        """Let runs still on the loop finish for up to ``grace_seconds``, cancel the rest (the
        runner gives a cancelled run back: QUEUED, handed out on the next tick), then close the
        database and HTTP clients and stop the loop."""
        if self._closed:
            return
        with self._in_flight_lock:
            pending = set(self._in_flight)
        if pending:
            _done, still = wait_futures(pending, timeout=grace_seconds)
            for future in still:
                future.cancel()
            if still:
                wait_futures(still, timeout=10)
        try:
            self.run(self._close_runtime())
        except Exception:  # shutting down anyway: say so, never hang
            logger.exception("worker.close_failed")
        self._closed = True
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self.loop.close()


_process_loop: ProcessLoop | None = None
_process_loop_lock = threading.Lock()


def start_process_loop(settings: Settings | None = None, *, concurrency: int | None = None) -> ProcessLoop:
    """The process's loop, started (database connected) if it is not running yet."""
    global _process_loop
    with _process_loop_lock:
        if _process_loop is None:
            process = ProcessLoop(settings or get_settings(), concurrency=concurrency)
            try:
                process.open()
            except BaseException:
                process.close(grace_seconds=0)
                raise
            _process_loop = process
        return _process_loop


def process_loop() -> ProcessLoop:
    """The process's loop; started with the process settings on first use."""
    current = _process_loop
    return current if current is not None else start_process_loop()


def stop_process_loop(*, grace_seconds: float = 30.0) -> None:
    """Close the process's loop and everything on it (worker shutdown)."""
    global _process_loop
    with _process_loop_lock:
        process, _process_loop = _process_loop, None
    if process is not None:
        process.close(grace_seconds=grace_seconds)
        logger.info("worker.loop_closed")


def _forget_after_fork() -> None:
    # A forked child has no loop thread: it starts its own on first use.
    global _process_loop
    _process_loop = None


os.register_at_fork(after_in_child=_forget_after_fork)


def run_execution_task(execution_id: int) -> None:
    """Celery task ``xtrack.run_execution``: run one execution on the process's loop."""
    loop = process_loop()
    loop.run(loop.runtime.run(int(execution_id)))


def deliver_notifications_task() -> None:
    """Celery task ``xtrack.deliver_notifications``: deliver what is due in the notification outbox
    (sent by the scheduler's notify loop when something is due; running it twice is harmless)."""
    loop = process_loop()
    runtime = loop.runtime
    loop.run(deliver_due_now(runtime.database, runtime.settings))


def worker_argv(settings: Settings, *, concurrency: int | None = None, loglevel: str = "INFO") -> list[str]:
    """``celery worker`` arguments: the threads pool (see the module docstring), this deployment's
    queue, a unique node name, and none of the cluster chatter XTrack does not use (gossip, mingle).
    Heartbeat events stay on: without them Celery has no event dispatcher at all, so ``celery events``
    and flower saw no worker and ``control enable_events`` answered "event dispatcher unavailable";
    task events stay off until an operator enables them."""
    return [
        "worker",
        "--pool=threads",
        f"--concurrency={concurrency or settings.executor_concurrency}",
        f"--loglevel={loglevel.upper()}",
        f"--queues={settings.celery_queue}",
        f"--hostname=xtrack-{os.getpid()}@%h",
        "--without-gossip",
        "--without-mingle",
    ]


def run_worker(settings: Settings, *, concurrency: int | None = None, loglevel: str = "INFO") -> int:
    """``xtrack worker``: open the process loop, run the Celery worker until it shuts down (SIGTERM
    or SIGINT: a warm shutdown lets the runs in flight finish), then close the loop's resources.
    Returns the worker's exit code."""
    slots = concurrency or settings.executor_concurrency
    # Celery's two INFO lines per task ("received", "succeeded in") repeat XTrack's own
    # execution.completed line (which has the ids, posts and duration) and cost about 0.5 ms of CPU
    # per run on the loop's core; its warnings and errors (a task that raised) still show.
    for name in ("celery.app.trace", "celery.worker.strategy"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))
    app = worker_app(settings)
    # ``app.start`` drops the worker's exit code (click returns it instead of raising with
    # standalone_mode off), so a worker stopped by an "Unrecoverable error" (kombu failing to
    # reconnect to a restarted Redis, found by the soak) exited 0 and a supervisor restarting on
    # failure left it dead. The shutdown signal carries the code.
    codes: list[int] = []

    def remember_exit_code(sender: Any = None, **_: Any) -> None:
        codes.append(int(getattr(sender, "exitcode", None) or 0))

    signals.worker_shutdown.connect(remember_exit_code, weak=False)
    start_process_loop(settings, concurrency=slots)
    try:
        code = app.start(worker_argv(settings, concurrency=slots, loglevel=loglevel))
    finally:
        signals.worker_shutdown.disconnect(remember_exit_code)
        stop_process_loop(grace_seconds=settings.lease_seconds / 2)
    return worker_exit_code(code, codes)


def worker_exit_code(returned: int | None, shutdown_codes: list[int]) -> int:
    """The process's exit code: Celery's own when it returns one, else the worker's at shutdown."""
    if returned:
        return int(returned)
    return max(shutdown_codes, default=0)
