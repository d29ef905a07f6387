"""Notification targets: the user's targets (create, change, delete, send a test) and which of them
each job sends to.

Owner-scoped like every service (another user's target or job is NotFound), never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from xtrack import crypto, metrics
from xtrack.config import Settings
from xtrack.db import Database
from xtrack.errors import Conflict, Invalid, NotFound
from xtrack.jobs import service as jobs_service
from xtrack.jobs.models import Job
from xtrack.notify import content, links, masking, senders
from xtrack.notify.models import (
    DeliveryKind,
    DeliveryStatus,
    JobNotificationTarget,
    NotificationDelivery,
    NotificationTarget,
    TargetKind,
)
from xtrack.notify.schemas import JobTargetsUpdate, TargetCreate, TargetUpdate
from xtrack.outbound import OutboundRefused
from xtrack.users.models import User, UserStatus

MAX_TARGETS_PER_USER = 20


# Views ---------------------------------------------------------------------------------------------


def destination_of(target: NotificationTarget) -> str:
    """What pages and the API show for a target: the email address, or the masked URL."""
    if target.kind == TargetKind.EMAIL.value:
        return target.email or ""
    return target.url_masked or masking.MASK


def store_url(target: NotificationTarget, url: str, *, settings: Settings) -> None:
    """Keep ``url`` encrypted, and its masked form for display."""
    target.url = crypto.cipher_for(settings).encrypt(url)
    target.url_masked = masking.mask_url(url)


def destination_for_send(
    target_kind: str, name: str, stored_url: str | None, email: str | None, *, cipher: crypto.Cipher
) -> tuple[senders.Destination, str | None]:
    """The destination with its URL decrypted, and why it cannot be sent when no key decrypts it."""
    url = None
    if stored_url is not None:
        try:
            url = cipher.decrypt(stored_url)
        except crypto.DecryptError as exc:
            return senders.Destination(kind=target_kind, name=name, email=email), f"Not sent: the URL {exc}."
    return senders.Destination(kind=target_kind, name=name, url=url, email=email), None


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


async def _apprise_url(url: str | None, *, settings: Settings) -> str:
    """The URL when apprise can send to it and its own host is one XTrack may contact (the outbound
    guard, checked again at every send); Invalid naming the field and why otherwise."""
    try:
        checked = senders.check_apprise_url(url or "")
        await senders.check_outbound(checked, settings=settings)
    except ValueError as exc:
        raise Invalid(str(exc), field="url") from None
    except OutboundRefused as exc:
        raise Invalid(exc.message, field="url") from None
    return checked


async def create_target(
    session: AsyncSession, *, user: User, data: TargetCreate, settings: Settings, now: datetime
) -> NotificationTarget:
    """A new enabled target; Invalid naming the field, Conflict over the per-user limit."""
    # The host is resolved (network I/O) before this unit of work touches the database.
    url = await _apprise_url(data.url, settings=settings) if data.kind == TargetKind.APPRISE.value else None
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
        store_url(target, url or "", settings=settings)
    session.add(target)
    await session.flush()
    return target


@dataclass(frozen=True, slots=True)
class Rotation:
    rotated: int
    unreadable: list[int]  # ids of targets no configured key decrypts


async def reencrypt_urls(session: AsyncSession, *, settings: Settings) -> Rotation:
    """Every target URL encrypted again under the first key (key rotation: ``xtrack targets
    rotate-key``); URLs no key decrypts are left as they are and listed."""
    cipher = crypto.cipher_for(settings)
    rotated, unreadable = 0, []
    for target in await session.scalars(
        select(NotificationTarget).where(NotificationTarget.url.is_not(None)).order_by(NotificationTarget.id)
    ):
        try:
            target.url = cipher.rotate(target.url or "")
        except crypto.DecryptError:
            unreadable.append(target.id)
            continue
        rotated += 1
    await session.flush()
    return Rotation(rotated=rotated, unreadable=unreadable)


async def cancel_pending(
    session: AsyncSession, *, target_id: int, job_id: int | None = None, reason: str
) -> None:
    """Give up what is still PENDING for the target (of ``job_id`` only, when given): FAILED, ``reason``."""
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
    session: AsyncSession,
    *,
    user: User,
    target_id: int,
    data: TargetUpdate,
    settings: Settings,
    now: datetime,
) -> NotificationTarget:
    """Change the fields sent; disabling a target cancels its pending deliveries."""
    changes = data.model_dump(exclude_unset=True)
    url = await _apprise_url(changes["url"], settings=settings) if changes.get("url") is not None else None
    target = await get_target(session, user_id=user.id, target_id=target_id)
    if changes.get("name") is not None:
        target.name = changes["name"]
    if url is not None:
        if target.kind != TargetKind.APPRISE.value:
            raise Invalid("Email targets have no URL.", field="url")
        store_url(target, url, settings=settings)
    if changes.get("is_enabled") is not None and changes["is_enabled"] != target.is_enabled:
        target.is_enabled = bool(changes["is_enabled"])
        if not target.is_enabled:
            await cancel_pending(session, target_id=target.id, reason="Not sent: the target was disabled.")
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
        destination, unreadable = destination_for_send(
            target.kind, target.name, target.url, target.email, cipher=crypto.cipher_for(settings)
        )
        message = content.target_test_message(target_name=target.name, manage_url=links.targets_url(settings))
    error = senders.SendError(unreadable, permanent=True) if unreadable else None
    try:
        if error is None:
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
            await cancel_pending(
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
