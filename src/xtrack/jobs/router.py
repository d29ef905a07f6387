"""Jobs API: thin routes over ``jobs.service`` (reads with runs: ``executions.overview``); owner only
(another user's job is a 404)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response, status

from xtrack.config import Settings
from xtrack.db import utcnow
from xtrack.executions import estimate as executions_estimate
from xtrack.executions import overview as executions_overview
from xtrack.executions import service as executions_service
from xtrack.jobs import service as jobs_service
from xtrack.jobs.filters import filters_of
from xtrack.jobs.schemas import (
    CostEstimate,
    JobCreate,
    JobCreated,
    JobList,
    JobRead,
    JobUpdate,
    frequency_label,
)
from xtrack.users.deps import ActiveUser, CurrentUser
from xtrack.web.deps import SessionDep, SettingsDep

router = APIRouter(prefix="/jobs", tags=["jobs"])

R401: dict[int | str, dict[str, Any]] = {401: {"description": "Not signed in"}}
R403: dict[int | str, dict[str, Any]] = {403: {"description": "Email address not verified yet"}}
R404: dict[int | str, dict[str, Any]] = {404: {"description": "No such job (or not yours)"}}
R409: dict[int | str, dict[str, Any]] = {409: {"description": "Job limit reached"}}
R409_COST: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "Job limit reached, or confirm_cost=false and the first run may cost more "
        "than XTRACK_CONFIRM_ABOVE_USD (the detail gives the estimate)"
    }
}
R422: dict[int | str, dict[str, Any]] = {422: {"description": "Invalid input; the detail names the field"}}


def job_read(overview: executions_overview.JobOverview, accounts: list[str] | None = None) -> JobRead:
    job = overview.job
    return JobRead(
        id=job.id,
        x_username=job.x_username,
        accounts=accounts or [job.x_username],
        topics=list(job.topics or []),
        frequency=job.frequency,
        frequency_label=frequency_label(job.frequency),
        language=job.language,
        is_active=job.is_active,
        last_run=job.last_run,
        next_run_at=job.next_run_at,
        daily_at=job.daily_at,
        days=job.days,
        timezone=job.timezone,
        schedule_label=jobs_service.schedule_label(job),
        filters=filters_of(job.filters),
        created_at=job.created_at,
        updated_at=job.updated_at,
        last_execution_status=overview.last_execution_status,
        success_rate=overview.success_rate,
    )


async def _read(session: SessionDep, owner_id: int, job_id: int) -> JobRead:
    overview = await executions_overview.get_overview(session, owner_id=owner_id, job_id=job_id)
    return job_read(overview, (await jobs_service.accounts_of(session, [job_id]))[job_id])


@router.get("", response_model=JobList, summary="Your jobs", responses={**R401})
async def list_jobs(session: SessionDep, user: CurrentUser) -> JobList:
    overviews = await executions_overview.overview_for_owner(session, owner_id=user.id)
    accounts = await jobs_service.accounts_of(session, [overview.job.id for overview in overviews])
    return JobList(items=[job_read(overview, accounts[overview.job.id]) for overview in overviews])


async def first_run_estimate(
    session: SessionDep, settings: Settings, data: JobCreate, *, confirmed: bool, now: datetime
) -> executions_estimate.Estimate:
    """What the new job's first run is expected to read and cost over all its accounts; unless
    ``confirmed``, Conflict (409, on ``confirm_cost``) when that may exceed XTRACK_CONFIRM_ABOVE_USD
    (the API asks only when the client sends confirm_cost=false; the job form always asks)."""
    usernames = data.account_list
    found = await executions_estimate.first_run(
        session, settings=settings, usernames=usernames, frequency_minutes=data.frequency, now=now
    )
    if not confirmed:
        executions_estimate.refuse_unconfirmed(
            settings,
            found,
            accounts=len(usernames),
            subject="This job's first run" if len(usernames) == 1 else "This briefing's first run",
            action="create the job",
        )
    return found


@router.post(
    "",
    response_model=JobCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Create a job (it runs within one scheduler tick); the answer carries its first run's estimate",
    responses={**R401, **R403, **R409_COST, **R422},
)
async def create_job(
    session: SessionDep, settings: SettingsDep, user: ActiveUser, data: JobCreate
) -> JobCreated:
    now = utcnow()
    found = await first_run_estimate(
        session, settings, data, confirmed=data.confirm_cost is not False, now=now
    )
    job = await jobs_service.create(
        session, owner=user, data=data, max_jobs=settings.max_jobs_per_user, now=now
    )
    read = await _read(session, user.id, job.id)
    return JobCreated(
        **read.model_dump(),
        first_run_estimate=CostEstimate(
            **asdict(found),
            needs_confirmation=executions_estimate.needs_confirmation(settings, found),
            words=found.words(),
        ),
    )


@router.get("/{job_id}", response_model=JobRead, summary="One of your jobs", responses={**R401, **R404})
async def get_job(session: SessionDep, user: CurrentUser, job_id: int) -> JobRead:
    return await _read(session, user.id, job_id)


@router.patch(
    "/{job_id}",
    response_model=JobRead,
    summary="Change a job (only the fields sent)",
    responses={**R401, **R403, **R404, **R422},
)
async def update_job(session: SessionDep, user: ActiveUser, job_id: int, data: JobUpdate) -> JobRead:
    await executions_service.update_job(session, owner_id=user.id, job_id=job_id, data=data, now=utcnow())
    return await _read(session, user.id, job_id)


@router.delete(
    "/{job_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a job with its history and summaries",
    responses={**R401, **R403, **R404},
)
async def delete_job(session: SessionDep, user: ActiveUser, job_id: int) -> Response:
    await jobs_service.delete_for_owner(session, owner_id=user.id, job_id=job_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{job_id}/pause",
    response_model=JobRead,
    summary="Pause a job (its queued runs are cancelled)",
    responses={**R401, **R403, **R404},
)
async def pause_job(session: SessionDep, user: ActiveUser, job_id: int) -> JobRead:
    await executions_service.pause_job(session, owner_id=user.id, job_id=job_id, now=utcnow())
    return await _read(session, user.id, job_id)


@router.post(
    "/{job_id}/resume",
    response_model=JobRead,
    summary="Resume a job (missed slots collapse into one catch-up run)",
    responses={**R401, **R403, **R404},
)
async def resume_job(session: SessionDep, user: ActiveUser, job_id: int) -> JobRead:
    await jobs_service.resume(session, owner_id=user.id, job_id=job_id, now=utcnow())
    return await _read(session, user.id, job_id)
