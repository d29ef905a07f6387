"""Cheap checks of what XTrack depends on, shared by ``/readyz`` and ``xtrack doctor``.

Each returns ``None`` when all is well, or a short reason (never a secret: URLs are shown without
their credentials). Blocking clients (kombu) run in a thread; every check has a timeout.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy import text

from xtrack.config import Settings
from xtrack.db import Database
from xtrack.observability import redact_text
from xtrack.ops.maintenance import heartbeat_stale_after, newest_heartbeat

DEFAULT_TIMEOUT = 3.0


def _reason(exc: BaseException) -> str:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return redact_text(f"{type(exc).__name__}: {message}" if message else type(exc).__name__)[:300]


async def database(database: Database, *, seconds: float = DEFAULT_TIMEOUT) -> str | None:
    """``SELECT 1`` on a pooled connection."""

    async def ping() -> None:
        async with database.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    try:
        await asyncio.wait_for(ping(), seconds)
    except TimeoutError:
        return f"no answer within {seconds:g} s"
    except Exception as exc:
        return _reason(exc)
    return None


def _connect_broker(url: str, timeout: float) -> None:
    from kombu.connection import Connection

    with Connection(url, connect_timeout=timeout) as connection:  # type: ignore[no-untyped-call]
        connection.ensure_connection(
            max_retries=1, interval_start=0, interval_step=0.2, interval_max=0.5, timeout=timeout
        )


async def broker(url: str, *, seconds: float = DEFAULT_TIMEOUT) -> str | None:
    """Open (and close) a connection to the Celery broker (Redis or RabbitMQ), off the event loop."""
    try:
        await asyncio.wait_for(asyncio.to_thread(_connect_broker, url, seconds), seconds + 1)
    except TimeoutError:
        return f"no answer within {seconds:g} s"
    except Exception as exc:
        return _reason(exc)
    return None


async def scheduler(database: Database, settings: Settings, *, now: datetime) -> str | None:
    """A scheduler completed a tick recently (within ``heartbeat_stale_after``)."""
    try:
        newest = await asyncio.wait_for(newest_heartbeat(database), DEFAULT_TIMEOUT)
    except Exception as exc:
        return _reason(exc)
    if newest is None:
        return "no scheduler has ever run on this database (start `xtrack scheduler` or `xtrack serve`)"
    age = (now - newest).total_seconds()
    limit = heartbeat_stale_after(settings).total_seconds()
    if age > limit:
        return f"the newest scheduler heartbeat is {age:.0f} s old (more than {limit:.0f} s)"
    return None
