"""``xtrack playground`` in a terminal: one run, recorded like any playground run, executed in this
process by the engine's local executor and runner."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from xtrack.config import Settings
from xtrack.db import Database, utcnow
from xtrack.executions.executors.local import LocalExecutor
from xtrack.playground import service as playground_service
from xtrack.playground.schemas import PlaygroundRunCreate
from xtrack.users import service as users_service
from xtrack.users.models import User

# Another process's scheduler may have taken the run (a shared database): look this often.
POLL_SECONDS = 0.5


async def run_once(
    database: Database,
    settings: Settings,
    *,
    data: PlaygroundRunCreate,
    user_email: str | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> playground_service.PlaygroundRun:
    """Queue a playground run (for the user with ``user_email``, quota included; otherwise the
    local operator's), run it here and return it finished. In a terminal a run gets one attempt:
    the source's client still retries transient errors, but a failure is reported at once instead
    of waiting minutes for the engine's back-off."""
    from xtrack.executions.heartbeat import HEARTBEATS
    from xtrack.executions.runner import run_execution
    from xtrack.sources.registry import close_sources
    from xtrack.summarize.registry import close_summarizers

    once = settings.model_copy(update={"max_attempts": 1})

    async def run(execution_id: int) -> None:
        await run_execution(execution_id, database=database, settings=once, now=clock)

    executor = LocalExecutor(concurrency=1, run=run, database=database)
    await executor.start()
    user: User | None = None
    try:
        async with database.session() as session:
            if user_email is not None:
                user = await users_service.get_by_email_or_404(session, user_email)
            execution = await playground_service.create_run(
                session, user=user, data=data, now=clock(), settings=settings, executor=executor
            )
        # Committed: the executor has it now.
        await executor.wait_idle()
        while True:
            async with database.session() as session:
                finished = await playground_service.get_run(session, user=user, run_id=execution.id)
            if not finished.is_active:
                return finished
            await asyncio.sleep(POLL_SECONDS)
    finally:
        await executor.stop(grace_seconds=0)
        await HEARTBEATS.stop()
        await close_sources()
        await close_summarizers()
