"""Stale-source and failing-job flags for the dashboard.

``assess`` is a pure function of a job's recent runs and its account's newest post time:

* **failing**: the last ``FAILING_AFTER`` finished runs (COMPLETED or FAILED; cancelled runs do not
  count) all failed, or the last one failed for a reason retrying cannot fix (the account does not
  exist, is suspended or protected, or the source refused the credentials);
* **stale**: an active job whose account has published nothing for far longer than usual:
  ``max(STALE_MIN_AGE, STALE_FACTOR x the median gap between the job's runs that found posts)``;
* otherwise **ok** (new jobs and jobs whose account posts on its usual cadence).

``job_health(session, user_id=..., now=...)`` assesses every job of a user with one query.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from xtrack.executions.models import ErrorKind, ExecutionStatus, JobExecution
from xtrack.jobs.models import Job
from xtrack.posts.models import StoredPost, XAccount

FAILING_AFTER = 3
RECENT_RUNS = 20
STALE_MIN_AGE = timedelta(days=7)
STALE_FACTOR = 10
PERMANENT_ERRORS = frozenset(
    {ErrorKind.SOURCE_NOT_FOUND.value, ErrorKind.SOURCE_UNAVAILABLE.value, ErrorKind.SOURCE_AUTH.value}
)


class HealthState(StrEnum):
    OK = "ok"
    STALE = "stale"
    FAILING = "failing"


@dataclass(frozen=True, slots=True)
class RunSample:
    """What ``assess`` needs of one run."""

    status: str
    error_kind: str | None = None
    tweets_fetched: int = 0
    completed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Health:
    state: HealthState
    reason: str | None = None  # one sentence for the dashboard; None when ok
    consecutive_failures: int = 0
    last_post_at: datetime | None = None
    usual_gap: timedelta | None = None

    @property
    def flagged(self) -> bool:
        return self.state is not HealthState.OK


def usual_gap(runs: Sequence[RunSample]) -> timedelta | None:
    """Median time between the runs that found new posts (None with fewer than two of them)."""
    found = sorted(
        run.completed_at
        for run in runs
        if run.status == ExecutionStatus.COMPLETED.value and run.tweets_fetched > 0 and run.completed_at
    )
    if len(found) < 2:
        return None
    gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(found)]
    return timedelta(seconds=statistics.median(gaps))


def stale_after(gap: timedelta | None) -> timedelta:
    return max(STALE_MIN_AGE, gap * STALE_FACTOR) if gap is not None else STALE_MIN_AGE


def _days(delta: timedelta) -> str:
    days = delta.total_seconds() / 86400
    if days >= 2:
        return f"{days:.0f} days"
    hours = delta.total_seconds() / 3600
    return f"{hours:.0f} hours" if hours >= 1 else f"{delta.total_seconds() / 60:.0f} minutes"


def assess(
    runs: Sequence[RunSample],
    *,
    username: str,
    newest_post_at: datetime | None,
    is_active: bool,
    created_at: datetime,
    now: datetime,
    failing_after: int = FAILING_AFTER,
) -> Health:
    """The job's health from its recent runs (newest first) and its account's newest post time."""
    finished = [
        run for run in runs if run.status in (ExecutionStatus.COMPLETED.value, ExecutionStatus.FAILED.value)
    ]
    failures = 0
    for run in finished:
        if run.status != ExecutionStatus.FAILED.value:
            break
        failures += 1
    gap = usual_gap(runs)
    if failures:
        kind = finished[0].error_kind or "error"
        if failures >= failing_after:
            return Health(
                HealthState.FAILING,
                f"The last {failures} runs failed ({kind}).",
                consecutive_failures=failures,
                last_post_at=newest_post_at,
                usual_gap=gap,
            )
        if kind in PERMANENT_ERRORS:
            return Health(
                HealthState.FAILING,
                f"The last run failed ({kind}): retrying will not help until that is fixed.",
                consecutive_failures=failures,
                last_post_at=newest_post_at,
                usual_gap=gap,
            )
    if is_active and any(run.status == ExecutionStatus.COMPLETED.value for run in finished):
        limit = stale_after(gap)
        usually = f" (usually every {_days(gap)})" if gap is not None else ""
        # The stored posts may have been pruned: a run that found posts also says when they came.
        found = [
            run.completed_at
            for run in finished
            if run.status == ExecutionStatus.COMPLETED.value and run.tweets_fetched > 0 and run.completed_at
        ]
        last_new = max([newest_post_at, *found], key=lambda at: at or datetime.min.replace(tzinfo=UTC))
        if last_new is not None and now - last_new > limit:
            return Health(
                HealthState.STALE,
                f"No new posts from @{username} for {_days(now - last_new)}{usually}.",
                consecutive_failures=failures,
                last_post_at=newest_post_at,
                usual_gap=gap,
            )
        if last_new is None and now - created_at > limit:
            return Health(
                HealthState.STALE,
                f"No posts from @{username} since this job was created {_days(now - created_at)} ago.",
                consecutive_failures=failures,
                usual_gap=gap,
            )
    return Health(HealthState.OK, consecutive_failures=failures, last_post_at=newest_post_at, usual_gap=gap)


async def job_health(
    session: AsyncSession, *, user_id: int, now: datetime, recent: int = RECENT_RUNS
) -> dict[int, Health]:
    """Every job of the user, assessed: one query (each job's newest ``recent`` runs and its
    account's newest stored post)."""
    ranked = (
        select(
            JobExecution.job_id,
            JobExecution.status,
            JobExecution.error_kind,
            JobExecution.tweets_fetched,
            JobExecution.completed_at,
            func.row_number()
            .over(partition_by=JobExecution.job_id, order_by=JobExecution.id.desc())
            .label("rank"),
        )
        .where(JobExecution.job_id.in_(select(Job.id).where(Job.user_id == user_id)))
        .subquery()
    )
    newest_post = (
        select(func.max(StoredPost.created_at))
        .join(XAccount, XAccount.id == StoredPost.account_id)
        .where(XAccount.username == func.lower(Job.x_username))
        .correlate(Job)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(
            Job.id,
            Job.x_username,
            Job.is_active,
            Job.created_at,
            newest_post.label("newest_post_at"),
            ranked.c.status,
            ranked.c.error_kind,
            ranked.c.tweets_fetched,
            ranked.c.completed_at,
        )
        .outerjoin(ranked, (ranked.c.job_id == Job.id) & (ranked.c.rank <= recent))
        .where(Job.user_id == user_id)
        .order_by(Job.id, ranked.c.rank)
    )
    jobs: dict[int, tuple[str, bool, datetime, datetime | None]] = {}
    runs: dict[int, list[RunSample]] = {}
    for row in rows:
        jobs.setdefault(row.id, (row.x_username, row.is_active, row.created_at, row.newest_post_at))
        samples = runs.setdefault(row.id, [])
        if row.status is not None:
            samples.append(RunSample(row.status, row.error_kind, row.tweets_fetched or 0, row.completed_at))
    return {
        job_id: assess(
            runs[job_id],
            username=username,
            newest_post_at=_aware(newest),
            is_active=is_active,
            created_at=created_at,
            now=now,
        )
        for job_id, (username, is_active, created_at, newest) in jobs.items()
    }


def _aware(value: datetime | None) -> datetime | None:
    """A MAX() over a UTC column comes back naive on SQLite (the column type is lost)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
