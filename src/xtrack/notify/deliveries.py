"""Delivery history for pages and the API: a job's and a target's notifications, newest first.

Owner-scoped: another user's job or target is NotFound.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xtrack.jobs import service as jobs_service
from xtrack.notify import targets
from xtrack.notify.models import NotificationDelivery, NotificationTarget
from xtrack.users.models import User

DELIVERY_PAGE = 20
MAX_DELIVERY_PAGE = 100


@dataclass(frozen=True, slots=True)
class DeliveryView:
    delivery: NotificationDelivery
    target_name: str
    target_kind: str


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


async def deliveries_for_target(
    session: AsyncSession, *, user: User, target_id: int, limit: int = DELIVERY_PAGE
) -> list[DeliveryView]:
    """The target's deliveries, newest first; NotFound for another user's target."""
    await targets.get_target(session, user_id=user.id, target_id=target_id)
    query = _delivery_query().where(NotificationDelivery.target_id == target_id)
    return _delivery_views(await session.execute(query.order_by(NotificationDelivery.id.desc()).limit(limit)))
