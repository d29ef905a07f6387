"""Jobs: create, read, change, pause/resume, delete. Owner-scoped; never commits.

What touches a job's runs (cancelling them on pause, a job with its newest run) lives a layer up,
in ``xtrack.executions.service`` and ``xtrack.executions.overview``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from xtrack.errors import Conflict, NotFound
from xtrack.jobs import schedule
from xtrack.jobs.models import Job
from xtrack.jobs.schemas import JobCreate, JobUpdate
from xtrack.users.models import User


async def get_for_owner(session: AsyncSession, *, owner_id: int, job_id: int, lock: bool = False) -> Job:
    """The owner's job; NotFound for a missing job or another user's (never 403)."""
    query = select(Job).where(Job.id == job_id, Job.user_id == owner_id)
    if lock:
        query = query.with_for_update()
    job = (await session.execute(query)).scalar_one_or_none()
    if job is None:
        raise NotFound("Job not found.")
    return job


async def count_for_owner(session: AsyncSession, *, owner_id: int) -> int:
    return int(
        await session.scalar(select(func.count()).select_from(Job).where(Job.user_id == owner_id)) or 0
    )


async def create(session: AsyncSession, *, owner: User, data: JobCreate, max_jobs: int, now: datetime) -> Job:
    """A new active job, due at once (it runs within one scheduler tick); Conflict over the limit."""
    # Serialise one user's concurrent creates so the limit holds (a no-op lock on SQLite).
    await session.execute(select(User.id).where(User.id == owner.id).with_for_update())
    if await count_for_owner(session, owner_id=owner.id) >= max_jobs:
        raise Conflict(
            f"You already have {max_jobs} jobs, the most allowed per user: delete one first.",
            field="x_username",
        )
    job = Job(
        user_id=owner.id,
        x_username=data.x_username,
        topics=data.topics,
        frequency=data.frequency,
        language=data.language,
        is_active=True,
        next_run_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(job)
    await session.flush()
    return job


async def update(session: AsyncSession, *, owner_id: int, job_id: int, data: JobUpdate, now: datetime) -> Job:
    """Change the fields sent. A new username starts over (no cursor, first-run window, due now);
    a new frequency reschedules from the last run; ``is_active`` pauses or resumes
    (``executions.service.update_job`` also cancels the QUEUED runs of a job it pauses)."""
    job = await get_for_owner(session, owner_id=owner_id, job_id=job_id, lock=True)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("x_username") is not None and changes["x_username"].lower() != job.x_username.lower():
        job.x_username = changes["x_username"]
        job.last_post_id = None
        job.last_run = None
        job.next_run_at = now
    elif changes.get("x_username") is not None:
        job.x_username = changes["x_username"]
    if changes.get("topics") is not None:
        job.topics = changes["topics"]
    if changes.get("language") is not None:
        job.language = changes["language"]
    if changes.get("frequency") is not None and changes["frequency"] != job.frequency:
        job.frequency = changes["frequency"]
        job.next_run_at = schedule.rescheduled(
            current=job.next_run_at, last_run=job.last_run, frequency_minutes=job.frequency, now=now
        )
    if changes.get("is_active") is not None and changes["is_active"] != job.is_active:
        job.is_active = changes["is_active"]
    job.updated_at = now
    await session.flush()
    return job


async def pause(session: AsyncSession, *, owner_id: int, job_id: int, now: datetime) -> Job:
    """Stop scheduling the job (``executions.service.pause_job`` also cancels its QUEUED runs)."""
    job = await get_for_owner(session, owner_id=owner_id, job_id=job_id, lock=True)
    if job.is_active:
        job.is_active = False
        job.updated_at = now
        await session.flush()
    return job


async def resume(session: AsyncSession, *, owner_id: int, job_id: int, now: datetime) -> Job:
    """Schedule the job again; slots missed while paused collapse into one catch-up run."""
    job = await get_for_owner(session, owner_id=owner_id, job_id=job_id, lock=True)
    if not job.is_active:
        job.is_active = True
        if job.next_run_at is None:
            job.next_run_at = now
        job.updated_at = now
        await session.flush()
    return job


async def delete_for_owner(session: AsyncSession, *, owner_id: int, job_id: int) -> None:
    """Delete the job with its executions and summaries (foreign-key cascade)."""
    result = await session.execute(
        delete(Job)
        .where(Job.id == job_id, Job.user_id == owner_id)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) == 0:
        raise NotFound("Job not found.")


@dataclass(frozen=True)
class UserRow:
    """A user with how many jobs they own (the administration list)."""

    user: User
    jobs_count: int


async def list_users_with_job_counts(
    session: AsyncSession, *, search: str | None = None, status: str | None = None, limit: int = 200
) -> list[UserRow]:
    """Users by id with how many jobs each owns (one grouped subquery, no per-user query)."""
    counts = select(Job.user_id, func.count(Job.id).label("jobs")).group_by(Job.user_id).subquery()
    query = (
        select(User, func.coalesce(counts.c.jobs, 0))
        .outerjoin(counts, counts.c.user_id == User.id)
        .order_by(User.id)
        .limit(limit)
    )
    if search:
        query = query.where(func.lower(User.email).contains(search.strip().lower(), autoescape=True))
    if status:
        query = query.where(User.status == status)
    rows = (await session.execute(query)).all()
    return [UserRow(user=user, jobs_count=int(jobs)) for user, jobs in rows]
