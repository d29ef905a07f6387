"""The reaper: RUNNING executions whose heartbeat stopped (the worker died) go back to QUEUED as
``worker_lost`` with attempt + 1, or to FAILED when they are out of attempts.

A reaped row's old runner, should it still be alive, can no longer finish it: the runner's final
write is fenced on (status RUNNING, its attempt number), and the attempt has moved on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import case, func, literal, select, update

from xtrack.config import get_settings
from xtrack.db import Database, UTCDateTime
from xtrack.executions.hooks import FailedRun
from xtrack.executions.models import ErrorKind, ExecutionStatus, JobExecution
from xtrack.notify.outbox import RunNotifications
from xtrack.observability import get_logger

logger = get_logger("xtrack.reaper")


@dataclass(slots=True)
class ReapResult:
    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


async def reap(
    database: Database, *, now: datetime, lease_seconds: float, max_attempts: int, batch_size: int = 10_000
) -> ReapResult:
    """Re-queue (or fail, when out of attempts) RUNNING executions silent for longer than the lease.
    Re-queued rows get ``queued_at`` NULL so the next dispatcher tick hands them out."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    cutoff = now - timedelta(seconds=lease_seconds)
    last_sign_of_life = func.coalesce(
        JobExecution.heartbeat_at, JobExecution.started_at, JobExecution.created_at
    )
    silent = (
        select(JobExecution.id)
        .where(JobExecution.status == ExecutionStatus.RUNNING.value, last_sign_of_life < cutoff)
        .order_by(JobExecution.id)
        .limit(batch_size)
        .with_for_update(skip_locked=True)
    )
    retry = JobExecution.attempt < max_attempts
    message = (
        f"The worker running this execution stopped responding (no heartbeat for {lease_seconds:g} s); "
        "it was handed to another worker."
    )
    async with database.session() as session:
        rows = (
            await session.execute(
                update(JobExecution)
                .where(JobExecution.id.in_(silent.scalar_subquery()))
                .values(
                    status=case((retry, ExecutionStatus.QUEUED.value), else_=ExecutionStatus.FAILED.value),
                    attempt=case((retry, JobExecution.attempt + 1), else_=JobExecution.attempt),
                    completed_at=case((retry, None), else_=literal(now, UTCDateTime())),
                    queued_at=None,
                    heartbeat_at=None,
                    not_before=None,
                    error_kind=ErrorKind.WORKER_LOST.value,
                    error_message=case(
                        (retry, message),
                        else_=f"The worker running this execution stopped responding (no heartbeat for "
                        f"{lease_seconds:g} s) and it is out of attempts ({max_attempts}).",
                    ),
                )
                .returning(
                    JobExecution.id, JobExecution.status, JobExecution.job_id, JobExecution.error_message
                )
                .execution_options(synchronize_session=False)
            )
        ).all()
        # Notifications: a run that ends FAILED here counts toward the job's failure notice.
        for row in rows:
            if row.status == ExecutionStatus.FAILED.value and row.job_id is not None:
                failed = FailedRun(row.id, row.job_id, row.error_message or "")
                await RunNotifications(get_settings()).run_failed(session, failed, now=now)
    result = ReapResult(
        requeued=sorted(row.id for row in rows if row.status == ExecutionStatus.QUEUED.value),
        failed=sorted(row.id for row in rows if row.status == ExecutionStatus.FAILED.value),
    )
    for execution_id in result.requeued:
        logger.warning("execution.worker_lost", execution_id=execution_id, requeued=True)
    for execution_id in result.failed:
        logger.warning("execution.worker_lost", execution_id=execution_id, requeued=False)
    return result
