"""Notifications API: targets, which targets a job sends to, and delivery history. Thin routes over
``notify.targets`` and ``notify.deliveries``; owner only (another user's target or job is a 404).
Target URLs are write-only: every response shows them masked."""

from __future__ import annotations

from typing import Annotated, NoReturn

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError

from xtrack.db import MAX_ID, utcnow
from xtrack.errors import Invalid
from xtrack.notify import deliveries, targets
from xtrack.notify.models import NotificationDelivery
from xtrack.notify.schemas import (
    DeliveryList,
    DeliveryRead,
    JobTargetRead,
    JobTargets,
    JobTargetsUpdate,
    LastDelivery,
    TargetCreate,
    TargetList,
    TargetRead,
    TargetUpdate,
)
from xtrack.ratelimit import RateLimiterDep, client_ip
from xtrack.users.deps import ActiveUser, CurrentUser
from xtrack.users.schemas import error_responses
from xtrack.web.deps import SessionDep, SettingsDep, database_of

router = APIRouter(tags=["notifications"])


def _field_error(exc: Invalid) -> NoReturn:
    """A service's Invalid as a validation error naming the field, like pydantic's own."""
    if exc.field is None:
        raise exc
    raise RequestValidationError([{"loc": ("body", exc.field), "msg": exc.message, "type": "value_error"}])


def target_read(view: targets.TargetView) -> TargetRead:
    target = view.target
    last = view.last
    return TargetRead(
        id=target.id,
        kind=target.kind,
        name=target.name,
        destination=view.destination,
        is_enabled=target.is_enabled,
        created_at=target.created_at,
        updated_at=target.updated_at,
        job_count=view.job_count,
        last_delivery=LastDelivery(status=last.status, kind=last.kind, at=last.at, error=last.error)
        if last
        else None,
    )


def delivery_read(view: deliveries.DeliveryView) -> DeliveryRead:
    d: NotificationDelivery = view.delivery
    return DeliveryRead(
        id=d.id,
        target_id=d.target_id,
        target_name=view.target_name,
        target_kind=view.target_kind,
        job_id=d.job_id,
        execution_id=d.execution_id,
        summary_id=d.summary_id,
        kind=d.kind,
        status=d.status,
        attempts=d.attempts,
        next_attempt_at=d.next_attempt_at if d.status == "PENDING" else None,
        last_error=d.last_error,
        sent_at=d.sent_at,
        last_attempt_at=d.last_attempt_at,
        created_at=d.created_at,
    )


def job_targets_read(view: targets.JobTargetsView) -> JobTargets:
    return JobTargets(
        job_id=view.job.id,
        target_ids=view.target_ids,
        targets=[
            JobTargetRead(
                id=c.target.id,
                kind=c.target.kind,
                name=c.target.name,
                destination=c.destination,
                is_enabled=c.target.is_enabled,
                selected=c.selected and not c.unsubscribed,
                unsubscribed=c.unsubscribed,
            )
            for c in view.choices
        ],
        notify_on_failure=view.job.notify_on_failure,
        failure_threshold=view.job.failure_threshold,
    )


@router.get(
    "/targets", response_model=TargetList, summary="Your notification targets", responses=error_responses(401)
)
async def list_targets(session: SessionDep, user: CurrentUser) -> TargetList:
    return TargetList(items=[target_read(v) for v in await targets.list_targets(session, user=user)])


@router.post(
    "/targets",
    response_model=TargetRead,
    status_code=status.HTTP_201_CREATED,
    summary="Add a notification target (your verified email, or an apprise URL)",
    responses=error_responses(401, 403, 409, 422),
)
async def create_target(
    session: SessionDep, settings: SettingsDep, user: ActiveUser, data: TargetCreate
) -> TargetRead:
    try:
        target = await targets.create_target(session, user=user, data=data, settings=settings, now=utcnow())
    except Invalid as exc:
        _field_error(exc)
    return target_read(await targets.target_view(session, user=user, target_id=target.id))


@router.get(
    "/targets/{target_id}",
    response_model=TargetRead,
    summary="One of your notification targets",
    responses=error_responses(401, 404),
)
async def get_target(session: SessionDep, user: CurrentUser, target_id: int) -> TargetRead:
    return target_read(await targets.target_view(session, user=user, target_id=target_id))


@router.patch(
    "/targets/{target_id}",
    response_model=TargetRead,
    summary="Change a target (only the fields sent); is_enabled=false pauses it",
    responses=error_responses(401, 403, 404, 422),
)
async def update_target(
    session: SessionDep, settings: SettingsDep, user: ActiveUser, target_id: int, data: TargetUpdate
) -> TargetRead:
    try:
        await targets.update_target(
            session, user=user, target_id=target_id, data=data, settings=settings, now=utcnow()
        )
    except Invalid as exc:
        _field_error(exc)
    return target_read(await targets.target_view(session, user=user, target_id=target_id))


@router.delete(
    "/targets/{target_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a target with its job selections and delivery history",
    responses=error_responses(401, 403, 404),
)
async def delete_target(session: SessionDep, user: ActiveUser, target_id: int) -> Response:
    await targets.delete_target(session, user=user, target_id=target_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/targets/{target_id}/test",
    response_model=DeliveryRead,
    summary="Send a test message now; the delivery says SENT or FAILED with the error",
    responses=error_responses(401, 403, 404, 429),
)
async def test_target(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: ActiveUser,
    limiter: RateLimiterDep,
    target_id: int,
) -> DeliveryRead:
    await limiter.check(
        "notify-test", settings.notify_test_rate_limit, ip=client_ip(request), email=user.email
    )
    target = await targets.get_target(session, user_id=user.id, target_id=target_id)
    name, kind = target.name, target.kind
    await session.commit()  # end this request's unit of work: no transaction stays open during the send
    delivery = await targets.send_test(
        database_of(request), user_id=user.id, target_id=target_id, settings=settings, now=utcnow()
    )
    return delivery_read(deliveries.DeliveryView(delivery=delivery, target_name=name, target_kind=kind))


@router.get(
    "/jobs/{job_id}/targets",
    response_model=JobTargets,
    summary="The targets a job sends to, and its failure-notice settings",
    responses=error_responses(401, 404),
)
async def get_job_targets(session: SessionDep, user: CurrentUser, job_id: int) -> JobTargets:
    return job_targets_read(await targets.job_targets(session, user=user, job_id=job_id))


@router.put(
    "/jobs/{job_id}/targets",
    response_model=JobTargets,
    summary="Choose every target the job sends to (and its failure-notice settings)",
    responses=error_responses(401, 403, 404, 422),
)
async def put_job_targets(
    session: SessionDep, user: ActiveUser, job_id: int, data: JobTargetsUpdate
) -> JobTargets:
    try:
        view = await targets.set_job_targets(session, user=user, job_id=job_id, data=data, now=utcnow())
    except Invalid as exc:
        _field_error(exc)
    return job_targets_read(view)


@router.get(
    "/jobs/{job_id}/deliveries",
    response_model=DeliveryList,
    summary="The job's notification deliveries, newest first (status, attempts, last error)",
    responses=error_responses(401, 404, 422),
)
async def job_deliveries(
    session: SessionDep,
    user: CurrentUser,
    job_id: int,
    limit: Annotated[int, Query(ge=1, le=deliveries.MAX_DELIVERY_PAGE)] = deliveries.DELIVERY_PAGE,
    before_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Keyset: deliveries older than this id")
    ] = None,
) -> DeliveryList:
    views = await deliveries.deliveries_for_job(
        session, user=user, job_id=job_id, limit=limit, before_id=before_id
    )
    return DeliveryList(items=[delivery_read(v) for v in views])
