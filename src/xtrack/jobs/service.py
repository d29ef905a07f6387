"""Jobs: create, read, change, pause/resume, delete. Owner-scoped; never commits.

What touches a job's runs (cancelling them on pause, a job with its newest run) lives a layer up,
in ``xtrack.executions.service`` and ``xtrack.executions.overview``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from xtrack.errors import Conflict, Invalid, NotFound
from xtrack.jobs import schedule
from xtrack.jobs.models import Job, JobAccount
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
    accounts = data.account_list
    job = Job(
        user_id=owner.id,
        x_username=accounts[0],
        topics=data.topics,
        frequency=data.frequency,
        language=data.language,
        is_active=True,
        next_run_at=now,
        created_at=now,
        updated_at=now,
        filters=data.filters.model_dump() if data.filters and not data.filters.is_empty else None,
    )
    if data.daily_at is not None:
        job.daily_at, job.days = data.daily_at, data.days
        job.timezone = data.timezone or owner.timezone or "UTC"
        job.next_run_at = schedule.next_daily_run(
            now=now, daily_at=job.daily_at, days=job.days, timezone=job.timezone
        )
    elif data.days is not None or data.timezone is not None:
        raise Invalid("days and timezone need daily_at (the local time of the run).", field="daily_at")
    session.add(job)
    await session.flush()
    await _set_accounts(session, job.id, accounts)
    return job


async def _set_accounts(session: AsyncSession, job_id: int, accounts: Sequence[str]) -> None:
    await session.execute(delete(JobAccount).where(JobAccount.job_id == job_id))
    await session.execute(
        insert(JobAccount),
        [{"job_id": job_id, "position": index, "account": name} for index, name in enumerate(accounts)],
    )


async def accounts_of(session: AsyncSession, job_ids: Sequence[int]) -> dict[int, list[str]]:
    """The accounts of each job, in order (one query)."""
    found: dict[int, list[str]] = {job_id: [] for job_id in job_ids}
    if not job_ids:
        return found
    rows = await session.execute(
        select(JobAccount.job_id, JobAccount.account)
        .where(JobAccount.job_id.in_(list(job_ids)))
        .order_by(JobAccount.job_id, JobAccount.position)
    )
    for job_id, account in rows:
        found[job_id].append(account)
    return found


def schedule_label(job: Job) -> str:
    """``"Weekdays at 08:00 (Europe/Paris)"`` for a daily job, ``"Every 6h"`` for an interval."""
    if job.daily_at:
        return schedule.describe_daily(job.daily_at, job.days, job.timezone or "UTC")
    return f"Every {schedule.format_frequency(job.frequency)}"


async def update(session: AsyncSession, *, owner_id: int, job_id: int, data: JobUpdate, now: datetime) -> Job:
    """Change the fields sent. A new username starts over (no cursor, first-run window, due now);
    a new frequency reschedules from the last run; ``is_active`` pauses or resumes
    (``executions.service.update_job`` also cancels the QUEUED runs of a job it pauses)."""
    job = await get_for_owner(session, owner_id=owner_id, job_id=job_id, lock=True)
    changes = data.model_dump(exclude_unset=True)
    if data.accounts is not None or data.x_username is not None:
        await _change_accounts(session, job, data, now=now)
    if changes.get("topics") is not None:
        job.topics = changes["topics"]
    if changes.get("language") is not None:
        job.language = changes["language"]
    if "filters" in changes:
        job.filters = data.filters.model_dump() if data.filters and not data.filters.is_empty else None
    if changes.get("frequency") is not None and changes["frequency"] != job.frequency:
        job.frequency = changes["frequency"]
        if not job.daily_at:
            job.next_run_at = schedule.rescheduled(
                current=job.next_run_at, last_run=job.last_run, frequency_minutes=job.frequency, now=now
            )
    if {"daily_at", "days", "timezone"} & changes.keys():
        await _change_schedule(session, job, changes, now=now)
    if changes.get("is_active") is not None and changes["is_active"] != job.is_active:
        job.is_active = changes["is_active"]
    job.updated_at = now
    await session.flush()
    return job


async def _change_accounts(session: AsyncSession, job: Job, data: JobUpdate, *, now: datetime) -> None:
    """New accounts (``accounts``), or a new first account (``x_username`` alone). A new first
    account starts over, as a new username always did (no cursor, first-run window, due now)."""
    current = (await accounts_of(session, [job.id]))[job.id] or [job.x_username]
    if data.accounts is not None:
        accounts = list(data.accounts)
    else:
        assert data.x_username is not None
        rest = [name for name in current[1:] if name.lower() != data.x_username.lower()]
        accounts = [data.x_username, *rest]
    if accounts[0].lower() != job.x_username.lower():
        job.last_post_id = None
        job.last_run = None
        job.next_run_at = now
    job.x_username = accounts[0]
    if accounts != current:
        await _set_accounts(session, job.id, accounts)


async def _change_schedule(
    session: AsyncSession, job: Job, changes: dict[str, Any], *, now: datetime
) -> None:
    """A daily schedule set, changed or dropped (``daily_at`` null: back to the interval)."""
    if "daily_at" in changes and changes["daily_at"] is None:
        job.daily_at, job.days, job.timezone = None, None, None
        job.next_run_at = schedule.rescheduled(
            current=None, last_run=job.last_run, frequency_minutes=job.frequency, now=now
        )
        return
    daily_at = changes.get("daily_at") or job.daily_at
    if daily_at is None:
        raise Invalid("days and timezone need daily_at (the local time of the run).", field="daily_at")
    if job.timezone is None and changes.get("timezone") is None:
        owner = await session.get(User, job.user_id)
        changes["timezone"] = (owner.timezone if owner else None) or "UTC"
    job.daily_at = daily_at
    if "days" in changes:
        job.days = changes["days"]
    if changes.get("timezone") is not None:
        job.timezone = changes["timezone"]
    job.next_run_at = schedule.next_daily_run(
        now=now, daily_at=daily_at, days=job.days, timezone=job.timezone or "UTC"
    )


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
