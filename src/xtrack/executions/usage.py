"""What runs cost, summed for the pages that ask: a job's month and last month, its cost per day,
a user's month by job, the instance's month by user. Every total is source_cost_usd of the runs
plus the LLM cost of their summaries, over runs and summaries created in the period, so every page
adds up to the sum of the runs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from xtrack.executions.budget import month_bounds
from xtrack.executions.models import JobExecution
from xtrack.jobs.models import Job
from xtrack.summaries.models import Summary
from xtrack.users.models import User

CHART_DAYS = 30


@dataclass(frozen=True, slots=True)
class Spend:
    """Source and LLM cost (US dollars) of one row of a usage table."""

    label: str
    source_usd: float = 0.0
    llm_usd: float = 0.0
    key: int | None = None  # the job or user id, None for the playground

    @property
    def total_usd(self) -> float:
        return self.source_usd + self.llm_usd


def totals(rows: Sequence[Spend], label: str = "Total") -> Spend:
    return Spend(label, sum(r.source_usd for r in rows), sum(r.llm_usd for r in rows))


def previous_month(now: datetime, timezone: str | None) -> tuple[datetime, datetime]:
    """Last calendar month in ``timezone`` (UTC bounds)."""
    start, _ = month_bounds(now, timezone)
    return month_bounds(start - timedelta(seconds=1), timezone)


async def _grouped(
    session: AsyncSession, group: object, *, since: datetime, until: datetime, **where: object
) -> tuple[dict[int | None, float], dict[int | None, float]]:
    """Source cost by ``group`` (a JobExecution column) and LLM cost by the same Summary column."""
    run_key = getattr(JobExecution, str(group))
    sum_key = getattr(Summary, str(group))
    runs = select(run_key, func.coalesce(func.sum(JobExecution.source_cost_usd), 0.0)).where(
        JobExecution.created_at >= since, JobExecution.created_at < until
    )
    llm = select(sum_key, func.coalesce(func.sum(Summary.cost), 0.0)).where(
        Summary.created_at >= since, Summary.created_at < until
    )
    for name, value in where.items():
        runs = runs.where(getattr(JobExecution, name) == value)
        llm = llm.where(getattr(Summary, name) == value)
    source = {key: float(v) for key, v in (await session.execute(runs.group_by(run_key))).all()}
    spent = {key: float(v) for key, v in (await session.execute(llm.group_by(sum_key))).all()}
    return source, spent


async def job_spend(session: AsyncSession, *, job_id: int, since: datetime, until: datetime) -> Spend:
    """The job's cost over [since, until)."""
    source, llm = await _grouped(session, "job_id", since=since, until=until, job_id=job_id)
    return Spend("job", source.get(job_id, 0.0), llm.get(job_id, 0.0), key=job_id)


async def job_daily(
    session: AsyncSession, *, job_id: int, now: datetime, timezone: str | None, days: int = CHART_DAYS
) -> list[tuple[date, float]]:
    """The job's total cost per day (in ``timezone``) for the last ``days`` days, oldest first."""
    zone = ZoneInfo(timezone or "UTC")
    today = now.astimezone(zone).date()
    first = today - timedelta(days=days - 1)
    since = datetime(first.year, first.month, first.day, tzinfo=zone)
    per_day: dict[date, float] = defaultdict(float)
    runs = select(JobExecution.created_at, JobExecution.source_cost_usd).where(
        JobExecution.job_id == job_id, JobExecution.created_at >= since, JobExecution.source_cost_usd > 0
    )
    llm = select(Summary.created_at, Summary.cost).where(
        Summary.job_id == job_id, Summary.created_at >= since, Summary.cost > 0
    )
    for statement in (runs, llm):
        for created_at, cost in (await session.execute(statement)).all():
            per_day[created_at.astimezone(zone).date()] += float(cost or 0.0)
    return [(first + timedelta(days=n), per_day.get(first + timedelta(days=n), 0.0)) for n in range(days)]


async def user_month_by_job(session: AsyncSession, *, user: User, now: datetime) -> list[Spend]:
    """The user's month (their time zone) by job, costliest first; playground runs as one row."""
    since, until = month_bounds(now, user.timezone)
    source, llm = await _grouped(session, "job_id", since=since, until=until, user_id=user.id)
    jobs = await session.execute(select(Job.id, Job.x_username).where(Job.user_id == user.id))
    names: dict[int | None, str] = {job_id: username for job_id, username in jobs.all()}
    rows = [
        Spend(
            f"@{names[key]}" if key in names else "Playground", source.get(key, 0.0), llm.get(key, 0.0), key
        )
        for key in set(source) | set(llm)
    ]
    return sorted(rows, key=lambda row: (-row.total_usd, row.label))


async def instance_month_by_user(session: AsyncSession, *, now: datetime) -> list[Spend]:
    """Every user's spend this calendar month (UTC), top spenders first."""
    since, until = month_bounds(now, "UTC")
    source, llm = await _grouped(session, "user_id", since=since, until=until)
    users = await session.execute(select(User.id, User.email))
    emails: dict[int | None, str] = {user_id: email for user_id, email in users.all()}
    rows = [
        Spend(str(emails.get(key, "local operator")), source.get(key, 0.0), llm.get(key, 0.0), key)
        for key in set(source) | set(llm)
    ]
    return sorted(rows, key=lambda row: (-row.total_usd, row.label))


@dataclass(frozen=True, slots=True)
class JobCosts:
    """What the job page shows: this month, last month (the owner's time zone) and cost per day."""

    this_month: Spend
    last_month: Spend
    daily: list[tuple[date, float]]


async def job_costs(session: AsyncSession, *, job_id: int, now: datetime, timezone: str | None) -> JobCosts:
    """The job's costs for its page."""
    since, until = month_bounds(now, timezone)
    before, _ = previous_month(now, timezone)
    return JobCosts(
        this_month=await job_spend(session, job_id=job_id, since=since, until=until),
        last_month=await job_spend(session, job_id=job_id, since=before, until=since),
        daily=await job_daily(session, job_id=job_id, now=now, timezone=timezone),
    )
