"""How QUEUED executions get run; ``get_executor`` picks the one XTRACK_EXECUTOR names."""

from __future__ import annotations

from xtrack.config import Settings
from xtrack.db import Database
from xtrack.executions.executors.base import Executor


def get_executor(settings: Settings, *, database: Database | None = None) -> Executor:
    """``local`` (the default): asyncio tasks in this process; ``celery``: hand ids to the broker
    for ``xtrack worker`` processes."""
    if settings.executor == "celery":
        from xtrack.executions.executors.celery import CeleryExecutor

        return CeleryExecutor(settings)
    from xtrack.executions.executors.local import LocalExecutor

    return LocalExecutor(concurrency=settings.executor_concurrency, database=database)


__all__ = ["Executor", "get_executor"]
