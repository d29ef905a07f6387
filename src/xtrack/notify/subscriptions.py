"""Unsubscribe links: what a link points at, and stopping it. No sign-in: the signed token is the
authority (``links.read_unsubscribe_token``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from xtrack.config import Settings
from xtrack.jobs.models import Job
from xtrack.notify import links
from xtrack.notify.models import JobNotificationTarget, NotificationTarget
from xtrack.notify.targets import cancel_pending, destination_of


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
    await cancel_pending(
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
