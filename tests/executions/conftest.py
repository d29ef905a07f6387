from __future__ import annotations

from collections.abc import Sequence


class RecordingExecutor:
    """An Executor that only records what it was handed."""

    def __init__(self) -> None:
        self.submitted: list[int] = []
        self.started = False
        self.stopped = False

    async def submit(self, execution_ids: Sequence[int]) -> None:
        self.submitted.extend(execution_ids)

    async def start(self) -> None:
        self.started = True

    async def stop(self, *, grace_seconds: float = 30.0) -> None:
        self.stopped = True
