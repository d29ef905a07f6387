"""Prometheus gauges read from the database on each scrape (one cheap query on the unfinished-runs
index, so every web replica reports the same truth): ``xtrack_executions_queued``,
``xtrack_executions_running``, ``xtrack_oldest_queued_seconds`` and
``xtrack_scheduler_heartbeat_age_seconds``. The counters and the exposition are ``xtrack.metrics``."""

from __future__ import annotations

from datetime import datetime

from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import func, select

from xtrack import metrics
from xtrack.db import Database
from xtrack.executions.models import ExecutionStatus, JobExecution
from xtrack.ops.models import SchedulerHeartbeat


async def database_gauges(database: Database, *, now: datetime) -> list[Metric]:
    """Queue depth, running runs, the oldest queued run's age and the newest scheduler heartbeat's age."""
    active = (ExecutionStatus.QUEUED.value, ExecutionStatus.RUNNING.value)
    async with database.session() as session:
        rows = (
            await session.execute(
                select(JobExecution.status, func.count(), func.min(JobExecution.created_at))
                .where(JobExecution.status.in_(active))
                .group_by(JobExecution.status)
            )
        ).all()
        heartbeat: datetime | None = await session.scalar(select(func.max(SchedulerHeartbeat.beat_at)))
    counts = {row[0]: (int(row[1]), row[2]) for row in rows}
    queued, oldest = counts.get(ExecutionStatus.QUEUED.value, (0, None))
    running, _ = counts.get(ExecutionStatus.RUNNING.value, (0, None))
    metrics: list[Metric] = [
        GaugeMetricFamily("xtrack_executions_queued", "Executions waiting to run.", value=queued),
        GaugeMetricFamily("xtrack_executions_running", "Executions running now.", value=running),
        GaugeMetricFamily(
            "xtrack_oldest_queued_seconds",
            "Age of the oldest QUEUED execution (0 when none).",
            value=max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0,
        ),
    ]
    if heartbeat is not None:
        metrics.append(
            GaugeMetricFamily(
                "xtrack_scheduler_heartbeat_age_seconds",
                "Seconds since a scheduler last completed a tick.",
                value=max(0.0, (now - heartbeat).total_seconds()),
            )
        )
    return metrics


async def render(database: Database | None, *, now: datetime) -> bytes:
    """The ``/metrics`` text: the process (or multiprocess) metrics, then the database gauges."""
    return metrics.exposition(await database_gauges(database, now=now) if database is not None else ())
