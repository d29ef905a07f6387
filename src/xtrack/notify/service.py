"""Notifications: targets, which jobs send to them, the outbox rows and unsubscribing.

Owner-scoped like every service (another user's target or job is NotFound), never commits. The
runner calls ``enqueue_for_summary`` / ``on_run_failed`` / ``on_run_completed`` inside the
transaction that finishes a run, so the outbox rows commit (or roll back) with the run itself;
the sender (``notify.outbox``) delivers them afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from xtrack import metrics
from xtrack.config import Settings
from xtrack.db import Database, after_commit
from xtrack.errors import Conflict, Invalid, NotFound
from xtrack.executions.models import ExecutionStatus, JobExecution
from xtrack.jobs import service as jobs_service
from xtrack.jobs.models import Job
from xtrack.notify import content, links, masking, outbox, senders
from xtrack.notify.models import (
    DeliveryKind,
    DeliveryStatus,
    JobNotificationTarget,
    NotificationDelivery,
    NotificationTarget,
    TargetKind,
)
from xtrack.notify.schemas import JobTargetsUpdate, TargetCreate, TargetUpdate
from xtrack.summaries.models import Summary
from xtrack.users.models import User, UserStatus

MAX_TARGETS_PER_USER = 20
DELIVERY_PAGE = 20
MAX_DELIVERY_PAGE = 100


# Views ---------------------------------------------------------------------------------------------


def destination_of(target: NotificationTarget) -> str:
    """What pages and the API show for a target: the email address, or the masked URL."""
    if target.kind == TargetKind.EMAIL.value:
        return target.email or ""
    return masking.mask_url(target.url)


@dataclass(frozen=True, slots=True)
class LastDelivery:
    status: str
    kind: str
    at: datetime
    error: str | None


@dataclass(frozen=True, slots=True)
class TargetView:
    target: NotificationTarget
    job_count: int
    last: LastDelivery | None

    @property
    def destination(self) -> str:
        return destination_of(self.target)


@dataclass(frozen=True, slots=True)
class DeliveryView:
    delivery: NotificationDelivery
    target_name: str
    target_kind: str


@dataclass(frozen=True, slots=True)
class JobTargetChoice:
    target: NotificationTarget
    selected: bool  # the job sends to it
    unsubscribed: bool  # selected, but the recipient clicked "unsubscribe"

    @property
    def destination(self) -> str:
        return destination_of(self.target)


@dataclass(frozen=True, slots=True)
class JobTargetsView:
    job: Job
    choices: list[JobTargetChoice]

    @property
    def target_ids(self) -> list[int]:
        return [c.target.id for c in self.choices if c.selected and not c.unsubscribed]


# Targets -------------------------------------------------------------------------------------------


async def get_target(session: AsyncSession, *, user_id: int, target_id: int) -> NotificationTarget:
    """The user's target; NotFound for a missing one or another user's (never 403)."""
    target = (
        await session.execute(
            select(NotificationTarget).where(
                NotificationTarget.id == target_id, NotificationTarget.user_id == user_id
            )
        )
    ).scalar_one_or_none()
    if target is None:
        raise NotFound("Notification target not found.")
    return target


async def _views(session: AsyncSession, targets: Sequence[NotificationTarget]) -> list[TargetView]:
    ids = [t.id for t in targets]
    if not ids:
        return []
    counts: dict[int, int] = {
        row[0]: int(row[1])
        for row in await session.execute(
            select(JobNotificationTarget.target_id, func.count())
            .where(JobNotificationTarget.target_id.in_(ids), JobNotificationTarget.is_enabled.is_(True))
            .group_by(JobNotificationTarget.target_id)
        )
    }
    latest = (
        select(func.max(NotificationDelivery.id))
        .where(NotificationDelivery.target_id.in_(ids), NotificationDelivery.attempts > 0)
        .group_by(NotificationDelivery.target_id)
    )
    last: dict[int, LastDelivery] = {}
    for delivery in await session.scalars(
        select(NotificationDelivery).where(NotificationDelivery.id.in_(latest.scalar_subquery()))
    ):
        last[delivery.target_id] = LastDelivery(
            status=delivery.status if delivery.status != DeliveryStatus.PENDING.value else "RETRYING",
            kind=delivery.kind,
            at=delivery.sent_at or delivery.last_attempt_at or delivery.created_at,
            error=delivery.last_error if delivery.status != DeliveryStatus.SENT.value else None,
        )
    return [TargetView(target=t, job_count=int(counts.get(t.id, 0)), last=last.get(t.id)) for t in targets]


async def list_targets(session: AsyncSession, *, user: User) -> list[TargetView]:
    """The user's targets, oldest first, with how many jobs use each and its last delivery."""
    targets = list(
        await session.scalars(
            select(NotificationTarget)
            .where(NotificationTarget.user_id == user.id)
            .order_by(NotificationTarget.id)
        )
    )
    return await _views(session, targets)


async def target_view(session: AsyncSession, *, user: User, target_id: int) -> TargetView:
    target = await get_target(session, user_id=user.id, target_id=target_id)
    return (await _views(session, [target]))[0]


def _email_for(user: User, requested: str | None) -> str:
    if user.status != UserStatus.ACTIVE.value:
        raise Invalid(
            "Confirm your email address first: email targets go to a verified address.", field="email"
        )
    if requested and requested.strip().lower() != user.email.lower():
        raise Invalid(
            f"Email targets can only send to your account's verified address ({user.email}).", field="email"
        )
    return user.email


def _apprise_url(url: str | None) -> str:
    try:
        return senders.check_apprise_url(url or "")
    except ValueError as exc:
        raise Invalid(str(exc), field="url") from None


async def create_target(
    session: AsyncSession, *, user: User, data: TargetCreate, now: datetime
) -> NotificationTarget:
    """A new enabled target; Invalid naming the field, Conflict over the per-user limit."""
    count = await session.scalar(
        select(func.count()).select_from(NotificationTarget).where(NotificationTarget.user_id == user.id)
    )
    if int(count or 0) >= MAX_TARGETS_PER_USER:
        raise Conflict(f"You already have {MAX_TARGETS_PER_USER} notification targets: delete one first.")
    target = NotificationTarget(
        user_id=user.id, kind=data.kind, name=data.name, is_enabled=True, created_at=now, updated_at=now
    )
    if data.kind == TargetKind.EMAIL.value:
        if data.url:
            raise Invalid("Email targets have no URL.", field="url")
        target.email = _email_for(user, data.email)
    else:
        if data.email:
            raise Invalid("Apprise targets have no email address: put it in the URL.", field="email")
        target.url = _apprise_url(data.url)
    session.add(target)
    await session.flush()
    return target


async def _cancel_pending(
    session: AsyncSession, *, target_id: int, job_id: int | None = None, reason: str
) -> None:
    query = update(NotificationDelivery).where(
        NotificationDelivery.target_id == target_id,
        NotificationDelivery.status == DeliveryStatus.PENDING.value,
    )
    if job_id is not None:
        query = query.where(NotificationDelivery.job_id == job_id)
    await session.execute(
        query.values(
            status=DeliveryStatus.FAILED.value, last_error=reason, claimed_until=None
        ).execution_options(synchronize_session=False)
    )


async def update_target(
    session: AsyncSession, *, user: User, target_id: int, data: TargetUpdate, now: datetime
) -> NotificationTarget:
    """Change the fields sent; disabling a target cancels its pending deliveries."""
    target = await get_target(session, user_id=user.id, target_id=target_id)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("name") is not None:
        target.name = changes["name"]
    if changes.get("url") is not None:
        if target.kind != TargetKind.APPRISE.value:
            raise Invalid("Email targets have no URL.", field="url")
        target.url = _apprise_url(changes["url"])
    if changes.get("is_enabled") is not None and changes["is_enabled"] != target.is_enabled:
        target.is_enabled = bool(changes["is_enabled"])
        if not target.is_enabled:
            await _cancel_pending(session, target_id=target.id, reason="Not sent: the target was disabled.")
    target.updated_at = now
    await session.flush()
    return target


@dataclass(frozen=True, slots=True)
class TargetUsage:
    jobs: int
    deliveries: int


async def target_usage(session: AsyncSession, *, user: User, target_id: int) -> TargetUsage:
    """What deleting the target removes (for the confirmation page)."""
    await get_target(session, user_id=user.id, target_id=target_id)
    jobs = await session.scalar(
        select(func.count())
        .select_from(JobNotificationTarget)
        .where(JobNotificationTarget.target_id == target_id)
    )
    deliveries = await session.scalar(
        select(func.count())
        .select_from(NotificationDelivery)
        .where(NotificationDelivery.target_id == target_id)
    )
    return TargetUsage(jobs=int(jobs or 0), deliveries=int(deliveries or 0))


async def delete_target(session: AsyncSession, *, user: User, target_id: int) -> None:
    """Delete a target with its job selections and delivery history."""
    target = await get_target(session, user_id=user.id, target_id=target_id)
    await session.execute(delete(NotificationTarget).where(NotificationTarget.id == target.id))


async def send_test(
    database: Database,
    *,
    user_id: int,
    target_id: int,
    settings: Settings,
    now: datetime,
    send: senders.Send | None = None,
) -> NotificationDelivery:
    """Send a test message now and keep it in the target's history (SENT, or FAILED with the error).

    Its own short units of work around the send: no transaction is open while the network is used;
    the caller must not hold one either (the route commits its request session first)."""
    async with database.session() as session:
        target = await get_target(session, user_id=user_id, target_id=target_id)
        destination = senders.Destination(
            kind=target.kind, name=target.name, url=target.url, email=target.email
        )
        message = content.target_test_message(target_name=target.name, manage_url=links.targets_url(settings))
    error: senders.SendError | None = None
    try:
        await (send or senders.send)(settings, destination, message)
    except senders.SendError as exc:
        error = exc
    async with database.session() as session:
        delivery = NotificationDelivery(
            target_id=target_id,
            kind=DeliveryKind.TEST.value,
            status=DeliveryStatus.FAILED.value if error else DeliveryStatus.SENT.value,
            attempts=1,
            next_attempt_at=now,
            last_attempt_at=now,
            sent_at=None if error else now,
            last_error=error.message if error else None,
            created_at=now,
            payload=message.as_payload(),
        )
        session.add(delivery)
        await session.flush()
    metrics.record_delivery(delivery.status)
    return delivery


# Job selection -------------------------------------------------------------------------------------


async def job_targets(session: AsyncSession, *, user: User, job_id: int) -> JobTargetsView:
    """Every target of the user with whether ``job_id`` sends to it."""
    job = await jobs_service.get_for_owner(session, owner_id=user.id, job_id=job_id)
    rows = await session.execute(
        select(NotificationTarget, JobNotificationTarget.is_enabled)
        .outerjoin(
            JobNotificationTarget,
            (JobNotificationTarget.target_id == NotificationTarget.id)
            & (JobNotificationTarget.job_id == job_id),
        )
        .where(NotificationTarget.user_id == user.id)
        .order_by(NotificationTarget.id)
    )
    choices = [
        JobTargetChoice(target=target, selected=linked is not None, unsubscribed=linked is False)
        for target, linked in rows
    ]
    return JobTargetsView(job=job, choices=choices)


async def set_job_targets(
    session: AsyncSession, *, user: User, job_id: int, data: JobTargetsUpdate, now: datetime
) -> JobTargetsView:
    """Make ``data.target_ids`` the job's targets (choosing an unsubscribed one again re-enables it)
    and change the failure-notice settings sent."""
    job = await jobs_service.get_for_owner(session, owner_id=user.id, job_id=job_id, lock=True)
    wanted = list(dict.fromkeys(data.target_ids))
    owned = set(
        await session.scalars(
            select(NotificationTarget.id).where(
                NotificationTarget.user_id == user.id, NotificationTarget.id.in_(wanted)
            )
        )
    )
    unknown = [target_id for target_id in wanted if target_id not in owned]
    if unknown:
        raise Invalid(f"Unknown notification target: {unknown[0]}.", field="target_ids")
    existing = {
        link.target_id: link
        for link in await session.scalars(
            select(JobNotificationTarget).where(JobNotificationTarget.job_id == job_id)
        )
    }
    for target_id, link in existing.items():
        if target_id not in owned:
            await session.delete(link)
            await _cancel_pending(
                session,
                target_id=target_id,
                job_id=job_id,
                reason="Not sent: the job no longer sends to this target.",
            )
        else:
            link.is_enabled = True
    for target_id in wanted:
        if target_id not in existing:
            session.add(
                JobNotificationTarget(job_id=job_id, target_id=target_id, is_enabled=True, created_at=now)
            )
    if data.notify_on_failure is not None:
        job.notify_on_failure = data.notify_on_failure
    if data.failure_threshold is not None:
        job.failure_threshold = data.failure_threshold
    await session.flush()
    return await job_targets(session, user=user, job_id=job_id)


# Outbox (called by the runner inside its final transaction) ------------------------------------------


def _recipient_filter(job_id: Any) -> Any:
    # Table columns (not ORM attributes), so that the runner's Core claim statement stays Core.
    selections, targets = JobNotificationTarget.__table__.c, NotificationTarget.__table__.c
    return (
        (selections.target_id == targets.id)
        & (selections.job_id == job_id)
        & selections.is_enabled.is_(True)
        & targets.is_enabled.is_(True)
    )


async def _recipients(session: AsyncSession, *, job_id: int) -> list[NotificationTarget]:
    """The enabled targets an enabled selection of the job points at."""
    return list(
        await session.scalars(
            select(NotificationTarget)
            .join(JobNotificationTarget, JobNotificationTarget.target_id == NotificationTarget.id)
            .where(_recipient_filter(job_id))
            .order_by(NotificationTarget.id)
        )
    )


def recipients_exist(job_id: Any) -> Any:
    """SQL: whether the job (``job_id``, a column or value) has any recipient (``_recipients``).
    The runner reads it when it claims a run, and skips the outbox work for a job without one."""
    return select(JobNotificationTarget.__table__.c.target_id).where(_recipient_filter(job_id)).exists()


async def _insert_deliveries(session: AsyncSession, rows: list[dict[str, Any]]) -> int:
    """INSERT … ON CONFLICT DO NOTHING on (target_id, execution_id, kind): a second call is harmless."""
    if not rows:
        return 0
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(NotificationDelivery)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["target_id", "execution_id", "kind"])
        .returning(NotificationDelivery.id)
    )
    inserted = len((await session.execute(statement)).all())
    if inserted:
        after_commit(session, outbox.nudge)
    return inserted


def _row(
    *,
    target: NotificationTarget,
    job_id: int,
    execution_id: int,
    summary_id: int | None,
    kind: DeliveryKind,
    message: content.Message,
    now: datetime,
) -> dict[str, Any]:
    return {
        "target_id": target.id,
        "job_id": job_id,
        "execution_id": execution_id,
        "summary_id": summary_id,
        "kind": kind.value,
        "status": DeliveryStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "payload": message.as_payload(),
    }


async def enqueue_for_summary(
    session: AsyncSession, *, summary: Summary, post_urls: Sequence[str], now: datetime, settings: Settings
) -> int:
    """One PENDING delivery per enabled target of the summary's job (none for a playground run or a
    summary of zero posts). Returns how many were written."""
    if (
        summary.job_id is None
        or summary.execution_id is None
        or summary.is_playground
        or summary.tweets_count <= 0
    ):
        return 0
    targets = await _recipients(session, job_id=summary.job_id)
    if not targets:
        return 0
    if summary.id is None:
        await session.flush()
    username = summary.x_username or ""
    raw = summary.raw_data or {}
    headline = str(
        raw.get("headline") or content.one_line(summary.content.splitlines()[0] if summary.content else "")
    )
    rows = [
        _row(
            target=target,
            job_id=summary.job_id,
            execution_id=summary.execution_id,
            summary_id=summary.id,
            kind=DeliveryKind.SUMMARY,
            message=content.summary_message(
                username=username,
                headline=headline.lstrip("# "),
                content=summary.content,
                post_urls=list(post_urls),
                summary_url=links.summary_url(settings, summary.id),
                unsubscribe_url=links.unsubscribe_url(settings, target_id=target.id, job_id=summary.job_id),
                manage_url=links.targets_url(settings),
                target_name=target.name,
            ),
            now=now,
        )
        for target in targets
    ]
    return await _insert_deliveries(session, rows)


async def on_run_failed(
    session: AsyncSession,
    *,
    job_id: int,
    execution_id: int,
    error: str | None,
    now: datetime,
    settings: Settings,
) -> int:
    """After a run ended FAILED: when the job's last ``failure_threshold`` finished runs all failed
    and no notice went out for this streak yet, one failure notice per target (exactly once: the
    conditional UPDATE of ``failure_notified_at`` lets one caller through)."""
    job = (
        await session.execute(
            select(
                Job.notify_on_failure, Job.failure_threshold, Job.failure_notified_at, Job.x_username
            ).where(Job.id == job_id)
        )
    ).first()
    if job is None or not job.notify_on_failure or job.failure_notified_at is not None:
        return 0
    threshold = max(1, int(job.failure_threshold))
    recent = list(
        await session.scalars(
            select(JobExecution.status)
            .where(
                JobExecution.job_id == job_id,
                JobExecution.status.in_((ExecutionStatus.COMPLETED.value, ExecutionStatus.FAILED.value)),
            )
            .order_by(JobExecution.id.desc())
            .limit(threshold)
        )
    )
    if len(recent) < threshold or any(status != ExecutionStatus.FAILED.value for status in recent):
        return 0
    marked = await session.execute(
        update(Job)
        .where(Job.id == job_id, Job.failure_notified_at.is_(None))
        .values(failure_notified_at=now, updated_at=Job.updated_at)
        .execution_options(synchronize_session=False)
    )
    if getattr(marked, "rowcount", 0) != 1:
        return 0
    rows = [
        _row(
            target=target,
            job_id=job_id,
            execution_id=execution_id,
            summary_id=None,
            kind=DeliveryKind.FAILURE,
            message=content.failure_message(
                username=job.x_username,
                failures=threshold,
                error=error,
                job_url=links.job_url(settings, job_id),
                unsubscribe_url=links.unsubscribe_url(settings, target_id=target.id, job_id=job_id),
                manage_url=links.targets_url(settings),
                target_name=target.name,
            ),
            now=now,
        )
        for target in await _recipients(session, job_id=job_id)
    ]
    return await _insert_deliveries(session, rows)


async def on_run_completed(
    session: AsyncSession, *, job_id: int, execution_id: int, now: datetime, settings: Settings
) -> int:
    """After a run COMPLETED (with or without new posts): if a failure notice went out, clear it
    and send one recovery notice per target."""
    cleared = (
        await session.execute(
            update(Job)
            .where(Job.id == job_id, Job.failure_notified_at.is_not(None))
            .values(failure_notified_at=None, updated_at=Job.updated_at)
            .returning(Job.notify_on_failure, Job.x_username)
            .execution_options(synchronize_session=False)
        )
    ).first()
    if cleared is None or not cleared.notify_on_failure:
        return 0
    rows = [
        _row(
            target=target,
            job_id=job_id,
            execution_id=execution_id,
            summary_id=None,
            kind=DeliveryKind.RECOVERY,
            message=content.recovery_message(
                username=cleared.x_username,
                job_url=links.job_url(settings, job_id),
                unsubscribe_url=links.unsubscribe_url(settings, target_id=target.id, job_id=job_id),
                manage_url=links.targets_url(settings),
                target_name=target.name,
            ),
            now=now,
        )
        for target in await _recipients(session, job_id=job_id)
    ]
    return await _insert_deliveries(session, rows)


# History -------------------------------------------------------------------------------------------


def _delivery_query() -> Any:
    return select(NotificationDelivery, NotificationTarget.name, NotificationTarget.kind).join(
        NotificationTarget, NotificationTarget.id == NotificationDelivery.target_id
    )


def _delivery_views(rows: Any) -> list[DeliveryView]:
    return [DeliveryView(delivery=d, target_name=name, target_kind=kind) for d, name, kind in rows]


async def deliveries_for_job(
    session: AsyncSession,
    *,
    user: User,
    job_id: int,
    limit: int = DELIVERY_PAGE,
    before_id: int | None = None,
) -> list[DeliveryView]:
    """The job's deliveries, newest first (keyset: ``before_id``); NotFound for another user's job."""
    await jobs_service.get_for_owner(session, owner_id=user.id, job_id=job_id)
    query = _delivery_query().where(NotificationDelivery.job_id == job_id)
    if before_id is not None:
        query = query.where(NotificationDelivery.id < before_id)
    limit = max(1, min(limit, MAX_DELIVERY_PAGE))
    return _delivery_views(await session.execute(query.order_by(NotificationDelivery.id.desc()).limit(limit)))


async def newer_deliveries_before(
    session: AsyncSession, *, user: User, job_id: int, before: int, limit: int = DELIVERY_PAGE
) -> int | None:
    """The ``before_id`` of the page of the job's deliveries just newer than the page at
    ``before``, or None when that is the first page (a "Newer" link: Older then Newer visits every
    delivery exactly once). NotFound for another user's job."""
    await jobs_service.get_for_owner(session, owner_id=user.id, job_id=job_id)
    limit = max(1, min(limit, MAX_DELIVERY_PAGE))
    ids = list(
        await session.scalars(
            select(NotificationDelivery.id)
            .where(NotificationDelivery.job_id == job_id, NotificationDelivery.id >= before)
            .order_by(NotificationDelivery.id.asc())
            .limit(limit + 1)
        )
    )
    return ids[limit - 1] + 1 if len(ids) > limit else None


async def deliveries_for_execution(
    session: AsyncSession, *, user: User, execution_id: int
) -> list[DeliveryView]:
    """The notifications one execution caused (the execution page); empty for another user's."""
    query = (
        _delivery_query()
        .where(NotificationDelivery.execution_id == execution_id, NotificationTarget.user_id == user.id)
        .order_by(NotificationDelivery.id)
    )
    return _delivery_views(await session.execute(query))


async def deliveries_for_target(
    session: AsyncSession, *, user: User, target_id: int, limit: int = DELIVERY_PAGE
) -> list[DeliveryView]:
    await get_target(session, user_id=user.id, target_id=target_id)
    query = _delivery_query().where(NotificationDelivery.target_id == target_id)
    return _delivery_views(await session.execute(query.order_by(NotificationDelivery.id.desc()).limit(limit)))


# Unsubscribe (no sign-in: the signed token is the authority) ----------------------------------------


@dataclass(frozen=True, slots=True)
class Subscription:
    target_id: int
    job_id: int
    target_name: str | None
    destination: str | None
    x_username: str | None
    is_subscribed: bool


async def subscription(session: AsyncSession, *, settings: Settings, token: str) -> Subscription:
    """What an unsubscribe link points at; links.InvalidUnsubscribeToken for a link we did not sign."""
    target_id, job_id = links.read_unsubscribe_token(settings, token)
    row = (
        await session.execute(
            select(NotificationTarget, Job.x_username, JobNotificationTarget.is_enabled)
            .join(Job, Job.user_id == NotificationTarget.user_id)
            .outerjoin(
                JobNotificationTarget,
                (JobNotificationTarget.target_id == NotificationTarget.id)
                & (JobNotificationTarget.job_id == Job.id),
            )
            .where(NotificationTarget.id == target_id, Job.id == job_id)
        )
    ).first()
    if row is None:  # the target or the job was deleted: nothing is sent any more
        return Subscription(target_id, job_id, None, None, None, is_subscribed=False)
    target, x_username, linked = row
    return Subscription(
        target_id=target_id,
        job_id=job_id,
        target_name=target.name,
        destination=destination_of(target),
        x_username=x_username,
        is_subscribed=bool(linked) and target.is_enabled,
    )


async def unsubscribe(
    session: AsyncSession, *, settings: Settings, token: str, now: datetime
) -> Subscription:
    """Stop sending the link's job to the link's target (and drop what is still pending for it)."""
    current = await subscription(session, settings=settings, token=token)
    await session.execute(
        update(JobNotificationTarget)
        .where(
            JobNotificationTarget.job_id == current.job_id,
            JobNotificationTarget.target_id == current.target_id,
        )
        .values(is_enabled=False)
        .execution_options(synchronize_session=False)
    )
    await _cancel_pending(
        session, target_id=current.target_id, job_id=current.job_id, reason="Not sent: unsubscribed."
    )
    return Subscription(
        target_id=current.target_id,
        job_id=current.job_id,
        target_name=current.target_name,
        destination=current.destination,
        x_username=current.x_username,
        is_subscribed=False,
    )
