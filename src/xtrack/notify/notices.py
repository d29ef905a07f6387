"""Who a job run's outcome notifies, and what each recipient is told: ``content``'s messages with
this deployment's links (the summary or the job page, the recipient's own unsubscribe link)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from xtrack.config import Settings
from xtrack.executions.models import ExecutionStatus
from xtrack.jobs.models import Job
from xtrack.notify import content, links
from xtrack.notify.content import Message
from xtrack.notify.models import JobNotificationTarget, NotificationTarget

_JOBS = cast(Table, Job.__table__)
_SELECTIONS = cast(Table, JobNotificationTarget.__table__)
_TARGETS = cast(Table, NotificationTarget.__table__)

# Everything a run's outcome needs to know about its job, in ONE statement (it runs in every
# completing transaction): the failure-notice state, and one row per recipient (or a single row
# with no target when the job has none).
_JOB_NOTICES = (
    select(
        _JOBS.c.x_username,
        _JOBS.c.notify_on_failure,
        _JOBS.c.failure_threshold,
        _JOBS.c.failure_notified_at,
        _TARGETS.c.id.label("target_id"),
        _TARGETS.c.name.label("target_name"),
    )
    .select_from(
        _JOBS.outerjoin(
            _SELECTIONS, (_SELECTIONS.c.job_id == _JOBS.c.id) & _SELECTIONS.c.is_enabled.is_(True)
        ).outerjoin(_TARGETS, (_TARGETS.c.id == _SELECTIONS.c.target_id) & _TARGETS.c.is_enabled.is_(True))
    )
    .where(_JOBS.c.id == bindparam("job_id"))
    .order_by(_TARGETS.c.id)
)


@dataclass(frozen=True, slots=True)
class Recipient:
    """A target the job sends to."""

    target_id: int
    name: str


@dataclass(frozen=True, slots=True)
class JobNotices:
    """What a job's outcome notices depend on: its failure-notice settings and state, its recipients."""

    x_username: str
    notify_on_failure: bool
    failure_threshold: int
    failure_notified: bool
    recipients: tuple[Recipient, ...]


async def job_notices(session: AsyncSession, *, job_id: int) -> JobNotices | None:
    """The job's notice state and recipients (oldest target first); None for a job that is gone."""
    rows = (await session.execute(_JOB_NOTICES, {"job_id": job_id})).all()
    if not rows:
        return None
    job = rows[0]
    return JobNotices(
        x_username=job.x_username,
        notify_on_failure=bool(job.notify_on_failure),
        failure_threshold=int(job.failure_threshold),
        failure_notified=job.failure_notified_at is not None,
        recipients=tuple(
            Recipient(target_id=row.target_id, name=row.target_name)
            for row in rows
            if row.target_id is not None
        ),
    )


def summary_is_sent(summary: Mapping[str, Any]) -> bool:
    """Whether a stored summary goes to its job's recipients: a job run's summary of some posts."""
    return (
        summary.get("id") is not None
        and summary.get("job_id") is not None
        and summary.get("execution_id") is not None
        and not summary.get("is_playground")
        and int(summary.get("tweets_count") or 0) > 0
    )


def streak_reached(statuses: Sequence[str], *, threshold: int) -> bool:
    """Whether the latest ``threshold`` finished runs (``statuses``, newest first) all failed."""
    return len(statuses) >= threshold and all(status == ExecutionStatus.FAILED.value for status in statuses)


def headline_of(summary: Mapping[str, Any]) -> str:
    """The summary's headline (the summarizer's, or its first line), without Markdown heading marks."""
    text = str(summary.get("content") or "")
    raw = summary.get("raw_data") or {}
    headline = str(raw.get("headline") or content.one_line(text.splitlines()[0] if text else ""))
    return headline.lstrip("# ")


def _footer(settings: Settings, recipient: Recipient, *, job_id: int) -> dict[str, str]:
    """Why the recipient gets the message, and how to stop it."""
    return {
        "unsubscribe_url": links.unsubscribe_url(settings, target_id=recipient.target_id, job_id=job_id),
        "manage_url": links.targets_url(settings),
        "target_name": recipient.name,
    }


def summary_notice(
    settings: Settings,
    recipient: Recipient,
    *,
    job_id: int,
    summary: Mapping[str, Any],
    post_urls: Sequence[str],
) -> Message:
    """A new summary (``summary``: the stored row's values, with its ``id``)."""
    return content.summary_message(
        username=summary.get("x_username") or "",
        headline=headline_of(summary),
        content=summary["content"],
        post_urls=list(post_urls),
        summary_url=links.summary_url(settings, int(summary["id"])),
        accounts=list((summary.get("raw_data") or {}).get("accounts") or []),
        **_footer(settings, recipient, job_id=job_id),
    )


def failure_notice(
    settings: Settings, recipient: Recipient, *, job_id: int, username: str, failures: int, error: str | None
) -> Message:
    """The job's last ``failures`` runs failed."""
    return content.failure_message(
        username=username,
        failures=failures,
        error=error,
        job_url=links.job_url(settings, job_id),
        **_footer(settings, recipient, job_id=job_id),
    )


def account_failure_notice(
    settings: Settings, recipient: Recipient, *, job_id: int, warnings: Sequence[str]
) -> Message:
    """A briefing's accounts were skipped in three runs in a row (the others still summarized)."""
    return content.account_failure_message(
        warnings=warnings,
        failures=3,
        job_url=links.job_url(settings, job_id),
        **_footer(settings, recipient, job_id=job_id),
    )


def recovery_notice(settings: Settings, recipient: Recipient, *, job_id: int, username: str) -> Message:
    """The job completed a run again after a failure notice."""
    return content.recovery_message(
        username=username,
        job_url=links.job_url(settings, job_id),
        **_footer(settings, recipient, job_id=job_id),
    )
