"""A run's inputs: what it reads (account, topics, language, window, cursor), computed by one pure
function from a job's columns or from a playground run's params.

Every path that records or runs a job run uses :func:`job_inputs` (a manual run, a retry, the SQLite
dispatcher, the claim). The PostgreSQL dispatcher builds the same ``params`` snapshot set-based in
SQL (100,000 due jobs in one statement, see ``dispatcher.py``); a test checks the two agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from xtrack.jobs import schedule

DEFAULT_PLAYGROUND_HOURS = 24


class JobColumns(Protocol):
    """The job columns a run's inputs come from (a Job, or a row that carries them)."""

    @property
    def x_username(self) -> str: ...
    @property
    def topics(self) -> list[str] | None: ...
    @property
    def language(self) -> str: ...
    @property
    def frequency(self) -> int: ...
    @property
    def last_run(self) -> datetime | None: ...
    @property
    def last_post_id(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class RunInputs:
    """What one run reads, and from how far back."""

    x_username: str
    topics: list[str]
    language: str
    hours_back: int | None  # a first run's or a playground run's window, in hours
    cursor: str | None  # the job's last post id: the run reads what is newer
    since: datetime | None  # lower bound on post time when there is no cursor
    need_since: datetime  # how far back the account's stored posts must reach
    # A briefing's accounts in order (the first is ``x_username``); empty: just ``x_username``.
    accounts: tuple[str, ...] = ()
    filters: dict[str, Any] = field(default_factory=dict)  # ``jobs.filters.PostFilters`` as stored

    @property
    def usernames(self) -> tuple[str, ...]:
        return self.accounts or (self.x_username,)

    def params(self) -> dict[str, Any]:
        """The snapshot recorded on the execution (``params``), so the history shows what ran."""
        params: dict[str, Any] = {
            "x_username": self.x_username,
            "topics": self.topics,
            "language": self.language,
        }
        if self.hours_back is not None:
            params["hours_back"] = self.hours_back
        # Only briefings and filtered jobs add keys: a single account's snapshot stays as it was.
        if len(self.usernames) > 1:
            params["accounts"] = list(self.usernames)
        if self.filters:
            params["filters"] = self.filters
        return params


def _accounts(first: str, accounts: Sequence[str] | None) -> tuple[str, ...]:
    return tuple(accounts) if accounts and len(accounts) > 1 else (first,)


def job_inputs(job: JobColumns, *, now: datetime, accounts: Sequence[str] | None = None) -> RunInputs:
    """A job run's inputs: newer than the cursor, or (a first run) the last 24 hours or one interval.
    ``accounts``: the job's accounts in order (``job_accounts``), when it follows more than one."""
    start = schedule.window_start(now=now, frequency_minutes=job.frequency, last_run=job.last_run)
    first_run = not (job.last_post_id or job.last_run)
    return RunInputs(
        x_username=job.x_username,
        topics=list(job.topics or []),
        language=job.language,
        hours_back=schedule.first_run_hours(job.frequency) if first_run else None,
        cursor=job.last_post_id,
        since=None if job.last_post_id else start,
        need_since=start,
        accounts=_accounts(job.x_username, accounts),
        filters=dict(getattr(job, "filters", None) or {}),
    )


def playground_inputs(params: dict[str, Any] | None, *, now: datetime) -> RunInputs:
    """A playground run's inputs: its recorded params, over its ``hours_back`` window."""
    params = params or {}
    hours_back = max(1, int(params.get("hours_back") or DEFAULT_PLAYGROUND_HOURS))
    start = schedule.playground_window_start(now=now, hours_back=hours_back)
    first = str(params.get("x_username") or "")
    return RunInputs(
        x_username=first,
        topics=[str(t) for t in params.get("topics") or []],
        language=str(params.get("language") or "en"),
        hours_back=hours_back,
        cursor=None,
        since=start,
        need_since=start,
        accounts=_accounts(first, [str(name) for name in params.get("accounts") or []]),
        filters=dict(params.get("filters") or {}),
    )
