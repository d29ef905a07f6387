"""``xtrack playground`` in a terminal: one run, recorded like any playground run, executed in this
process by the engine's local executor and the runner the caller passes (the runtime's)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

from xtrack.config import Settings
from xtrack.db import Database, utcnow
from xtrack.executions.executors.local import LocalExecutor
from xtrack.playground import history as playground_history
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
    run: Callable[[int], Awaitable[None]],
    user_email: str | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> playground_history.PlaygroundRun:
    """Queue a playground run (for the user with ``user_email``, quota included; otherwise the
    local operator's), run it here with ``run`` and return it finished."""
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
                finished = await playground_history.get_run(session, user=user, run_id=execution.id)
            if not finished.is_active:
                return finished
            await asyncio.sleep(POLL_SECONDS)
    finally:
        await executor.stop(grace_seconds=0)
