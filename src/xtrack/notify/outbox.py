"""The notification outbox, ``notification_deliveries``: rows written with a run's outcome, then drained.

Write, in the transaction that records the outcome (``RunNotifications``, the notify side of
``executions.hooks.RunHooks``), so the rows commit or roll back with the run: a summary goes to each
recipient of the job (an enabled selection of an enabled target); the last ``failure_threshold``
finished runs all failed: one failure notice per recipient, once per streak (``failure_notified_at``);
the next completed run after that notice: one recovery notice per recipient. Inserts are ON CONFLICT
DO NOTHING on (target, execution, kind), so writing twice is harmless; the commit wakes this
process's notify loops (``nudge``; ``notify.loop``).

Drain (``deliver_due``, one round; tests drive it with their own ``now``):

    claim due rows (attempts + 1, a lease)      short transaction; SKIP LOCKED on PostgreSQL
    send each one, concurrently (bounded)       network, no transaction open (invariant 7)
    record SENT, or a retry after a back-off,   one short transaction per delivery, fenced on
    or FAILED once out of attempts              (PENDING, the attempt number the claim saw)

A target that is down only delays its own rows, never another target's. Two senders never claim the
same row (the lease and SKIP LOCKED); a sender that dies mid-send leaves its rows to be claimed again
once the lease (XTRACK_NOTIFY_LEASE_SECONDS) has passed, which the settings keep longer than a send
may take (XTRACK_NOTIFY_TIMEOUT_SECONDS), so a slow receiver is never sent a row still in flight.
Webhooks carry the row's id as their idempotency key for the case no lease covers: an answer lost
after the receiver took the message.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from xtrack import backoff, crypto, metrics
from xtrack.config import Settings
from xtrack.db import Database, after_commit, utcnow
from xtrack.executions.hooks import CompletedRun, FailedRun
from xtrack.executions.models import ExecutionStatus, JobExecution
from xtrack.jobs.models import Job
from xtrack.notify import budget_notices, notices, senders, targets
from xtrack.notify.content import Message
from xtrack.notify.models import (
    DeliveryKind,
    DeliveryStatus,
    JobNotificationTarget,
    NotificationDelivery,
    NotificationTarget,
)
from xtrack.notify.rows import delivery_rows
from xtrack.observability import get_logger
from xtrack.users.models import User, UserStatus

logger = get_logger("xtrack.notify")

BATCH_SIZE = 100
CONCURRENCY = 10
RETRY_BASE_SECONDS = 60.0
RETRY_CAP_SECONDS = 3600.0


# Waking the loops ----------------------------------------------------------------------------------

_LISTENERS: set[Callable[[], None]] = set()


def listen(wake: Callable[[], None]) -> None:
    """Call ``wake`` after every commit in this process that writes deliveries (a notify loop)."""
    _LISTENERS.add(wake)


def unlisten(wake: Callable[[], None]) -> None:
    _LISTENERS.discard(wake)


async def nudge() -> None:
    """Wake this process's notify loops (the after-commit hook of every write): no poll delay."""
    for wake in list(_LISTENERS):
        wake()


# Writing -------------------------------------------------------------------------------------------


async def _insert_deliveries(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """INSERT … ON CONFLICT DO NOTHING on (target_id, execution_id, kind): a second call is harmless."""
    if not rows:
        return
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(NotificationDelivery)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["target_id", "execution_id", "kind"])
        .returning(NotificationDelivery.id)
    )
    if (await session.execute(statement)).all():
        after_commit(session, nudge)


async def _finished_statuses(session: AsyncSession, *, job_id: int, limit: int) -> list[str]:
    """The statuses of the job's latest ``limit`` finished (COMPLETED or FAILED) runs, newest first."""
    finished = (ExecutionStatus.COMPLETED.value, ExecutionStatus.FAILED.value)
    return list(
        await session.scalars(
            select(JobExecution.status)
            .where(JobExecution.job_id == job_id, JobExecution.status.in_(finished))
            .order_by(JobExecution.id.desc())
            .limit(limit)
        )
    )


async def _mark_failure_notified(session: AsyncSession, *, job_id: int, now: datetime) -> bool:
    """Start the streak's notice; true for the one caller that did (a conditional UPDATE)."""
    marked = await session.execute(
        update(Job)
        .where(Job.id == job_id, Job.failure_notified_at.is_(None))
        .values(failure_notified_at=now, updated_at=Job.updated_at)
        .execution_options(synchronize_session=False)
    )
    return getattr(marked, "rowcount", 0) == 1


async def _clear_failure_notice(session: AsyncSession, *, job_id: int) -> bool | None:
    """End the streak: None when no notice was outstanding (or another caller cleared it), else
    whether the job still wants failure and recovery notices."""
    cleared = (
        await session.execute(
            update(Job)
            .where(Job.id == job_id, Job.failure_notified_at.is_not(None))
            .values(failure_notified_at=None, updated_at=Job.updated_at)
            .returning(Job.notify_on_failure)
            .execution_options(synchronize_session=False)
        )
    ).first()
    return None if cleared is None else bool(cleared.notify_on_failure)


class RunNotifications:
    """The outbox rows a job run's outcome causes (``executions.hooks.RunHooks``), written in the
    caller's transaction."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def run_completed(self, session: AsyncSession, run: CompletedRun, *, now: datetime) -> None:
        """A job run's summary to every recipient (and a recovery notice when a failure notice is
        outstanding); for any run with an owner, a job's or the playground's, the budget notices
        its spend made due."""
        rows: list[dict[str, Any]] = []
        if run.job_id is not None:
            job = await notices.job_notices(session, job_id=run.job_id)
            if job is None:
                return
            rows += await self._job_rows(session, run, run.job_id, job, now=now)
        rows += await budget_notices.rows_for(session, self.settings, run, now=now)
        await _insert_deliveries(session, rows)

    async def _job_rows(
        self, session: AsyncSession, run: CompletedRun, job_id: int, job: notices.JobNotices, *, now: datetime
    ) -> list[dict[str, Any]]:
        """The summary to every recipient; and when a failure notice is outstanding, clear it and
        send one recovery notice per recipient."""
        rows: list[dict[str, Any]] = []
        summary = run.summary
        if summary is not None and job.recipients and notices.summary_is_sent(summary):
            rows += delivery_rows(
                job.recipients,
                job_id=job_id,
                execution_id=run.execution_id,
                kind=DeliveryKind.SUMMARY,
                message=lambda recipient: notices.summary_notice(
                    self.settings, recipient, job_id=job_id, summary=summary, post_urls=run.post_urls
                ),
                now=now,
                summary_id=int(summary["id"]),
            )
        if run.failing_accounts and job.notify_on_failure:  # a briefing's accounts that keep failing
            rows += delivery_rows(
                job.recipients,
                job_id=job_id,
                execution_id=run.execution_id,
                kind=DeliveryKind.FAILURE,
                message=lambda recipient: notices.account_failure_notice(
                    self.settings, recipient, job_id=job_id, warnings=run.failing_accounts
                ),
                now=now,
            )
        if job.failure_notified and await _clear_failure_notice(session, job_id=job_id):
            rows += delivery_rows(
                job.recipients,
                job_id=job_id,
                execution_id=run.execution_id,
                kind=DeliveryKind.RECOVERY,
                message=lambda recipient: notices.recovery_notice(
                    self.settings, recipient, job_id=job_id, username=job.x_username
                ),
                now=now,
            )
        return rows

    async def run_failed(self, session: AsyncSession, run: FailedRun, *, now: datetime) -> None:
        """When the job's last ``failure_threshold`` finished runs all failed and no notice went out
        for this streak yet, one failure notice per recipient (exactly once per streak)."""
        job = await notices.job_notices(session, job_id=run.job_id)
        if job is None or not job.notify_on_failure or job.failure_notified:
            return
        threshold = max(1, job.failure_threshold)
        statuses = await _finished_statuses(session, job_id=run.job_id, limit=threshold)
        if not notices.streak_reached(statuses, threshold=threshold):
            return
        if not await _mark_failure_notified(session, job_id=run.job_id, now=now):
            return
        rows = delivery_rows(
            job.recipients,
            job_id=run.job_id,
            execution_id=run.execution_id,
            kind=DeliveryKind.FAILURE,
            message=lambda recipient: notices.failure_notice(
                self.settings,
                recipient,
                job_id=run.job_id,
                username=job.x_username,
                failures=threshold,
                error=run.error,
            ),
            now=now,
        )
        await _insert_deliveries(session, rows)


# Draining ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery this sender holds: what to send, where, and the attempt number that fences it."""

    id: int
    attempts: int
    kind: str
    target_id: int
    job_id: int | None
    message: Message
    destination: senders.Destination
    cancel_reason: str | None = None


@dataclass(slots=True)
class Round:
    claimed: int = 0
    sent: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


def retry_at(attempts: int, *, now: datetime, base: float = RETRY_BASE_SECONDS) -> datetime:
    """When attempt ``attempts + 1`` may start: back-off with jitter from ``base`` to an hour."""
    return backoff.not_before(now, backoff.backoff_delay(attempts, base=base, cap=RETRY_CAP_SECONDS))


def _available(now: datetime) -> Any:
    return (
        (NotificationDelivery.status == DeliveryStatus.PENDING.value)
        & (NotificationDelivery.next_attempt_at <= now)
        & or_(NotificationDelivery.claimed_until.is_(None), NotificationDelivery.claimed_until <= now)
    )


async def has_due(database: Database, *, now: datetime) -> bool:
    async with database.session() as session:
        return bool(await session.scalar(select(exists().where(_available(now)))))


def _cancel_reason(
    *, kind: str, job_id: int | None, target_enabled: bool, link_enabled: bool | None, owner_status: str
) -> str | None:
    if owner_status == UserStatus.SUSPENDED.value:
        return "Not sent: the account is suspended."
    if not target_enabled:
        return "Not sent: the target is disabled."
    if kind != DeliveryKind.TEST.value and job_id is not None and not link_enabled:
        return "Not sent: the job no longer sends to this target."
    return None


async def claim_due(
    database: Database, settings: Settings, *, now: datetime, limit: int = BATCH_SIZE
) -> list[Claimed]:
    """Take up to ``limit`` due deliveries: attempts + 1 and a lease (XTRACK_NOTIFY_LEASE_SECONDS),
    in one short transaction; target URLs come decrypted."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    due = (
        select(NotificationDelivery.id)
        .where(_available(now))
        .order_by(NotificationDelivery.next_attempt_at, NotificationDelivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    async with database.session() as session:
        rows = (
            await session.execute(
                update(NotificationDelivery)
                .where(NotificationDelivery.id.in_(due.scalar_subquery()), _available(now))
                .values(
                    attempts=NotificationDelivery.attempts + 1,
                    claimed_until=now + timedelta(seconds=settings.notify_lease_seconds),
                    last_attempt_at=now,
                )
                .returning(NotificationDelivery.id, NotificationDelivery.attempts)
                .execution_options(synchronize_session=False)
            )
        ).all()
        if not rows:
            return []
        attempts = {row.id: row.attempts for row in rows}
        link = JobNotificationTarget
        details = await session.execute(
            select(
                NotificationDelivery.id,
                NotificationDelivery.kind,
                NotificationDelivery.job_id,
                NotificationDelivery.payload,
                NotificationTarget.id.label("target_id"),
                NotificationTarget.kind.label("target_kind"),
                NotificationTarget.name,
                NotificationTarget.url,
                NotificationTarget.email,
                NotificationTarget.is_enabled.label("target_enabled"),
                link.is_enabled.label("link_enabled"),
                User.status.label("owner_status"),
            )
            .join(NotificationTarget, NotificationTarget.id == NotificationDelivery.target_id)
            .join(User, User.id == NotificationTarget.user_id)
            .outerjoin(
                link,
                and_(
                    link.target_id == NotificationDelivery.target_id,
                    link.job_id == NotificationDelivery.job_id,
                ),
            )
            .where(NotificationDelivery.id.in_(list(attempts)))
            .order_by(NotificationDelivery.id)
        )
        cipher = crypto.cipher_for(settings)
        return [_claimed(row, attempts[row.id], cipher) for row in details]


def _claimed(row: Any, attempts: int, cipher: crypto.Cipher) -> Claimed:
    destination, unreadable = targets.destination_for_send(
        row.target_kind, row.name, row.url, row.email, cipher=cipher
    )
    return Claimed(
        id=row.id,
        attempts=attempts,
        kind=row.kind,
        target_id=row.target_id,
        job_id=row.job_id,
        message=Message.from_payload(row.payload or {}),
        destination=dataclasses.replace(destination, delivery_id=row.id),
        cancel_reason=_cancel_reason(
            kind=row.kind,
            job_id=row.job_id,
            target_enabled=row.target_enabled,
            link_enabled=row.link_enabled,
            owner_status=row.owner_status,
        )
        or unreadable,
    )


async def record(
    database: Database,
    claimed: Claimed,
    *,
    error: senders.SendError | None,
    now: datetime,
    max_attempts: int,
    retry_base: float = RETRY_BASE_SECONDS,
) -> str:
    """Store one attempt's outcome; returns "sent", "retrying", "failed" or "superseded" (the row was
    cancelled or re-claimed meanwhile: nothing written)."""
    # A send given up on while still in flight keeps its lease: the retry waits until that send can
    # no longer be running, so the receiver never gets the same delivery twice at once.
    values: dict[str, Any] = {} if error is not None and error.in_flight else {"claimed_until": None}
    if error is None:
        outcome = "sent"
        values |= {"status": DeliveryStatus.SENT.value, "sent_at": now, "last_error": None}
    elif error.permanent or claimed.attempts >= max_attempts:
        outcome = "failed"
        values |= {"status": DeliveryStatus.FAILED.value, "last_error": error.message}
    else:
        outcome = "retrying"
        values |= {
            "next_attempt_at": retry_at(claimed.attempts, now=now, base=retry_base),
            "last_error": error.message,
        }
    # Retried on a new connection: a lost outcome would let the lease run out and send it twice.
    done = await database.execute_retrying(
        update(NotificationDelivery)
        .where(
            NotificationDelivery.id == claimed.id,
            NotificationDelivery.status == DeliveryStatus.PENDING.value,
            NotificationDelivery.attempts == claimed.attempts,
        )
        .values(**values)
        .execution_options(synchronize_session=False),
        waits=(0.5, 1.0, 2.0, 4.0),
    )
    if getattr(done, "rowcount", 0) != 1:
        return "superseded"
    metrics.record_delivery(outcome.upper())
    log = logger.info if outcome == "sent" else logger.warning
    log(
        f"notify.{outcome}",
        delivery_id=claimed.id,
        target_id=claimed.target_id,
        job_id=claimed.job_id,
        kind=claimed.kind,
        attempt=claimed.attempts,
    )
    return outcome


async def _attempt(settings: Settings, claimed: Claimed, send: senders.Send) -> senders.SendError | None:
    if claimed.cancel_reason is not None:
        return senders.SendError(claimed.cancel_reason, permanent=True)
    limit = settings.notify_send_timeout_seconds
    try:
        await asyncio.wait_for(send(settings, claimed.destination, claimed.message), limit)
    except senders.SendError as exc:
        return exc
    except TimeoutError:
        return senders.SendError(f"No answer within {limit:g} s.", in_flight=True)
    return None


async def deliver_due(
    database: Database,
    settings: Settings,
    *,
    now: datetime,
    limit: int = BATCH_SIZE,
    concurrency: int = CONCURRENCY,
    send: senders.Send | None = None,
) -> Round:
    """One round: claim what is due at ``now``, send it (at most ``concurrency`` at once), record."""
    send = send or senders.send
    claimed = await claim_due(database, settings, now=now, limit=limit)
    result = Round(claimed=len(claimed))
    if not claimed:
        return result
    gate = asyncio.Semaphore(concurrency)
    limits: dict[str, Any] = {"max_attempts": settings.notify_max_attempts}
    limits["retry_base"] = settings.notify_retry_base_seconds

    async def one(item: Claimed) -> None:
        async with gate:
            error = await _attempt(settings, item, send)
        try:
            outcome = await record(database, item, error=error, now=now, **limits)
        except Exception:  # the lease runs out and the row is claimed again
            logger.exception("notify.record_failed", delivery_id=item.id)
            return
        if outcome == "sent":
            result.sent.append(item.id)
        elif outcome == "retrying":
            result.retrying.append(item.id)
        elif outcome == "failed":
            result.failed.append(item.id)

    await asyncio.gather(*(one(item) for item in claimed))
    return result


async def deliver_all_due(database: Database, settings: Settings, *, now: datetime) -> Round:
    """Rounds until fewer than a batch was due (the Celery task, and a loop tick after a nudge)."""
    total = Round()
    while True:
        current = await deliver_due(database, settings, now=now)
        total.claimed += current.claimed
        total.sent += current.sent
        total.retrying += current.retrying
        total.failed += current.failed
        if current.claimed < BATCH_SIZE:
            return total


async def deliver_due_now(database: Database, settings: Settings) -> Round:
    """Everything due now (the Celery task's body)."""
    return await deliver_all_due(database, settings, now=utcnow())
