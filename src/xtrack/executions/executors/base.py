"""How QUEUED executions get run: in this process (local) or by Celery workers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Executor(Protocol):
    """Hands execution ids to whatever runs them. Handing an id out twice is harmless: the runner
    claims QUEUED -> RUNNING atomically and skips anything else."""

    async def submit(self, execution_ids: Sequence[int]) -> None: ...

    async def start(self) -> None: ...

    async def stop(self, *, grace_seconds: float = 30.0) -> None:
        """Graceful shutdown: finish or release in-flight work within ``grace_seconds``."""
        ...
