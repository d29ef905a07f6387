"""How QUEUED executions get run: ``local`` (asyncio tasks in this process, ``executors/local.py``)
or ``celery`` (``xtrack worker`` processes through a broker, ``executors/celery.py``); the runtime
builds the one XTRACK_EXECUTOR names."""

from xtrack.executions.executors.base import Executor

__all__ = ["Executor"]
