"""The sender: works through PENDING ``notification_deliveries`` (the outbox the runner writes).

    claim due rows (attempts + 1, a lease)      short transaction; SKIP LOCKED on PostgreSQL
    send each one, concurrently (bounded)       network, no transaction open (invariant 7)
    record SENT, or a retry after a back-off,   one short transaction per delivery, fenced on
    or FAILED once out of attempts              (PENDING, the attempt number the claim saw)

Deliveries are independent: a target that is down only delays its own rows (their next attempt is
pushed back), never another target's. Two senders never claim the same row (the lease and SKIP
LOCKED); a sender that dies mid-send leaves its rows to be claimed again once the lease has passed.

``deliver_due(database, settings, now=...)`` is one round (tests drive it with their own ``now``);
``NotifyLoop`` runs rounds inside ``xtrack serve`` / ``xtrack scheduler``; with the Celery executor
the loop hands each round to a worker as the ``xtrack.deliver_notifications`` task instead.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, or_, select, update

from xtrack import backoff, metrics
from xtrack.config import Settings
from xtrack.db import Database, utcnow
from xtrack.notify import senders
from xtrack.notify.content import Message
from xtrack.notify.models import (
    DeliveryKind,
    DeliveryStatus,
    JobNotificationTarget,
    NotificationDelivery,
    NotificationTarget,
)
from xtrack.observability import get_logger
from xtrack.users.models import User, UserStatus

logger = get_logger("xtrack.notify")

BATCH_SIZE = 100
CONCURRENCY = 10
LEASE_SECONDS = 300.0  # longer than any send may take (SMTP 20 s, apprise 30 s, SEND_TIMEOUT)
SEND_TIMEOUT_SECONDS = 120.0
RETRY_BASE_SECONDS = 60.0
RETRY_CAP_SECONDS = 3600.0


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


def retry_at(attempts: int, *, now: datetime) -> datetime:
    """When attempt ``attempts + 1`` may start: exponential back-off with jitter, one minute to an hour."""
    return backoff.not_before(
        now, backoff.backoff_delay(attempts, base=RETRY_BASE_SECONDS, cap=RETRY_CAP_SECONDS)
    )


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
    database: Database, *, now: datetime, limit: int = BATCH_SIZE, lease_seconds: float = LEASE_SECONDS
) -> list[Claimed]:
    """Take up to ``limit`` due deliveries: attempts + 1 and a lease, in one short transaction."""
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
                    claimed_until=now + timedelta(seconds=lease_seconds),
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
        return [
            Claimed(
                id=row.id,
                attempts=attempts[row.id],
                kind=row.kind,
                target_id=row.target_id,
                job_id=row.job_id,
                message=Message.from_payload(row.payload or {}),
                destination=senders.Destination(
                    kind=row.target_kind, name=row.name, url=row.url, email=row.email
                ),
                cancel_reason=_cancel_reason(
                    kind=row.kind,
                    job_id=row.job_id,
                    target_enabled=row.target_enabled,
                    link_enabled=row.link_enabled,
                    owner_status=row.owner_status,
                ),
            )
            for row in details
        ]


async def record(
    database: Database,
    claimed: Claimed,
    *,
    error: senders.SendError | None,
    now: datetime,
    max_attempts: int,
) -> str:
    """Store one attempt's outcome; returns "sent", "retrying", "failed" or "superseded" (the row was
    cancelled or re-claimed meanwhile: nothing written)."""
    values: dict[str, Any] = {"claimed_until": None}
    if error is None:
        outcome = "sent"
        values |= {"status": DeliveryStatus.SENT.value, "sent_at": now, "last_error": None}
    elif error.permanent or claimed.attempts >= max_attempts:
        outcome = "failed"
        values |= {"status": DeliveryStatus.FAILED.value, "last_error": error.message}
    else:
        outcome = "retrying"
        values |= {"next_attempt_at": retry_at(claimed.attempts, now=now), "last_error": error.message}
    async with database.session() as session:
        done = await session.execute(
            update(NotificationDelivery)
            .where(
                NotificationDelivery.id == claimed.id,
                NotificationDelivery.status == DeliveryStatus.PENDING.value,
                NotificationDelivery.attempts == claimed.attempts,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
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
    try:
        await asyncio.wait_for(send(settings, claimed.destination, claimed.message), SEND_TIMEOUT_SECONDS)
    except senders.SendError as exc:
        return exc
    except TimeoutError:
        return senders.SendError(f"No answer within {SEND_TIMEOUT_SECONDS:g} s.")
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
    claimed = await claim_due(database, now=now, limit=limit)
    result = Round(claimed=len(claimed))
    if not claimed:
        return result
    gate = asyncio.Semaphore(concurrency)

    async def one(item: Claimed) -> None:
        async with gate:
            error = await _attempt(settings, item, send)
        try:
            outcome = await record(
                database, item, error=error, now=now, max_attempts=settings.notify_max_attempts
            )
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


async def deliver_due_now(settings: Settings) -> Round:
    """Everything due now, on the process's database (the Celery task's body)."""
    from xtrack.db import get_database

    return await deliver_all_due(get_database(), settings, now=utcnow())


_LOOPS: set[NotifyLoop] = set()


async def nudge() -> None:
    """Wake this process's sender loops (an after-commit hook of every enqueue): no poll delay."""
    for loop in list(_LOOPS):
        loop.wake()


class NotifyLoop:
    """Delivery rounds every ``interval`` seconds, and at once when nudged. With ``trigger`` (Celery)
    a round is handed to a worker instead, only when something is due."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
        interval: float | None = None,
        trigger: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.database = database
        self.settings = settings
        self.clock = clock
        self.interval = interval if interval is not None else settings.scheduler_tick_seconds
        self.trigger = trigger
        self.rounds = 0
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def run_once(self) -> Round | None:
        now = self.clock()
        self.rounds += 1
        if self.trigger is not None:
            if await has_due(self.database, now=now):
                await self.trigger()
            return None
        return await deliver_all_due(self.database, self.settings, now=now)

    async def run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                await self.run_once()
            except Exception:
                logger.exception("notify.round_failed")
            if self._stop.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)

    def wake(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    async def start(self) -> None:
        self._stop.clear()
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self.run(), name="xtrack-notify")
        _LOOPS.add(self)

    async def stop(self) -> None:
        _LOOPS.discard(self)
        self._stop.set()
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
