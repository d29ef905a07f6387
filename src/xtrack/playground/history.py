"""The playground's read side: a run as pages, the CLI and the API see it, one run, and a user's
history (newest first, keyset-paginated). Never commits.

The API's wire format is ``playground.schemas`` (PlaygroundRunRead), built from these views by
attribute, so the format is defined once.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from xtrack.errors import NotFound
from xtrack.executions.models import ACTIVE_STATUSES, JobExecution, Trigger
from xtrack.summaries.models import Summary
from xtrack.users.models import User

HISTORY_DEFAULT_LIMIT = 20
HISTORY_MAX_LIMIT = 100
NOT_FOUND_DETAIL = "Playground run not found."


# The views below are what pages, the CLI and the API read; the API's wire format is
# ``playground.schemas`` (PlaygroundRunRead), built from them by attribute. Not frozen: a frozen
# dataclass's __init__ costs ~10x more, paid per row of a history page.


@dataclass(slots=True)
class PlaygroundSummary:
    id: int
    content: str  # Markdown
    tweets_count: int
    post_ids: list[str]
    headline: str | None
    model: str | None
    input_tokens: int
    output_tokens: int
    cost: float  # US dollars
    created_at: datetime


@dataclass(slots=True)
class PlaygroundRun:
    """A playground run with its summary (when it completed with posts): plain values, so pages
    can hand it to ``ui.run_row`` and ``ui.status_badge`` like any execution."""

    id: int
    user_id: int | None
    status: str
    params: dict[str, Any]
    created_at: datetime
    queued_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    tweets_fetched: int
    error_kind: str | None
    error_message: str | None
    attempt: int
    not_before: datetime | None
    retry_of_id: int | None
    covered_from: datetime | None
    covered_to: datetime | None
    gap: bool
    summary: PlaygroundSummary | None
    trigger: str = Trigger.PLAYGROUND.value
    job_id: None = None
    # Derived from params and the timestamps in __post_init__.
    x_username: str = ""
    topics: list[str] = field(default_factory=list)
    hours_back: int = 24
    language: str = "en"
    duration_ms: int | None = None
    accounts: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        params = self.params
        self.x_username = str(params.get("x_username") or "")
        self.accounts = [str(name) for name in params.get("accounts") or [self.x_username]]
        self.topics = [str(topic) for topic in params.get("topics") or []]
        self.hours_back = int(params.get("hours_back") or 24)
        self.language = str(params.get("language") or "en")
        if self.started_at is not None and self.completed_at is not None:
            self.duration_ms = int((self.completed_at - self.started_at).total_seconds() * 1000)

    @property
    def summary_id(self) -> int | None:
        return self.summary.id if self.summary is not None else None

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES


@dataclass(frozen=True, slots=True)
class HistoryPage:
    items: list[PlaygroundRun]
    next_before: int | None  # pass as ``before`` for the next (older) page; None at the end


# Table columns, not ORM attributes: Core selects skip the ORM's result loading.
_EXECUTIONS = JobExecution.__table__
_SUMMARIES = Summary.__table__
_RUN_COLUMNS = (
    _EXECUTIONS.c.id,
    _EXECUTIONS.c.user_id,
    _EXECUTIONS.c.status,
    _EXECUTIONS.c.params,
    _EXECUTIONS.c.created_at,
    _EXECUTIONS.c.queued_at,
    _EXECUTIONS.c.started_at,
    _EXECUTIONS.c.completed_at,
    _EXECUTIONS.c.tweets_fetched,
    _EXECUTIONS.c.error_kind,
    _EXECUTIONS.c.error_message,
    _EXECUTIONS.c.attempt,
    _EXECUTIONS.c.not_before,
    _EXECUTIONS.c.retry_of_id,
    _EXECUTIONS.c.covered_from,
    _EXECUTIONS.c.covered_to,
    _EXECUTIONS.c.gap,
)
_SUMMARY_COLUMNS = (
    _SUMMARIES.c.id,
    _SUMMARIES.c.content,
    _SUMMARIES.c.tweets_count,
    _SUMMARIES.c.raw_data,
    _SUMMARIES.c.model,
    _SUMMARIES.c.input_tokens,
    _SUMMARIES.c.output_tokens,
    _SUMMARIES.c.cost,
    _SUMMARIES.c.created_at,
)
_SPLIT = len(_RUN_COLUMNS)


_RUNS = (
    select(*_RUN_COLUMNS, *_SUMMARY_COLUMNS)
    .select_from(_EXECUTIONS.outerjoin(_SUMMARIES, _SUMMARIES.c.execution_id == _EXECUTIONS.c.id))
    .where(_EXECUTIONS.c.trigger == Trigger.PLAYGROUND.value)
)


@functools.cache
def _history_statement(*, before: bool) -> Select[Any]:
    """A history page, built once with bind parameters (``user_id``, ``limit``, ``before``)."""
    query = _RUNS.where(_EXECUTIONS.c.user_id == bindparam("user_id"))
    if before:
        query = query.where(_EXECUTIONS.c.id < bindparam("before"))
    return query.order_by(_EXECUTIONS.c.id.desc()).limit(bindparam("limit"))


def _runs_query(user_id: int | None) -> Select[Any]:
    """Runs of ``user_id`` (None: the local operator's) joined to their summaries: one statement,
    served by the (user_id, id) index of job_executions and the execution_id index of summaries."""
    owner = JobExecution.user_id.is_(None) if user_id is None else JobExecution.user_id == user_id
    return _RUNS.where(owner)


def _run(row: Any) -> PlaygroundRun:
    values = tuple(row)
    summary = None
    summary_id, content, tweets_count, raw_data, model, tokens_in, tokens_out, cost, created_at = values[
        _SPLIT:
    ]
    if summary_id is not None:
        raw = raw_data or {}
        headline = raw.get("headline")
        summary = PlaygroundSummary(
            id=summary_id,
            content=content,
            tweets_count=tweets_count,
            post_ids=[str(post_id) for post_id in raw.get("post_ids") or []],
            headline=str(headline) if headline else None,
            model=model,
            input_tokens=tokens_in or 0,
            output_tokens=tokens_out or 0,
            cost=float(cost or 0.0),
            created_at=created_at,
        )
    run: dict[str, Any] = {column.key: value for column, value in zip(_RUN_COLUMNS, values, strict=False)}
    run["params"] = dict(run["params"] or {})
    return PlaygroundRun(**run, summary=summary)


def view_of(execution: JobExecution) -> PlaygroundRun:
    """The view of a run just created (``create_run``), from its row as inserted: no read back,
    and no summary yet."""
    run: dict[str, Any] = {column.key: getattr(execution, column.key) for column in _RUN_COLUMNS}
    run["params"] = dict(run["params"] or {})
    return PlaygroundRun(**run, summary=None)


def _user_id(user: User | None) -> int | None:
    return None if user is None else user.id


async def get_run(session: AsyncSession, *, user: User | None, run_id: int) -> PlaygroundRun:
    """One of the user's playground runs with its summary; NotFound for anyone else's (or for an
    execution that is not a playground run). ``user=None``: the local operator's runs."""
    row = (await session.execute(_runs_query(_user_id(user)).where(JobExecution.id == run_id))).first()
    if row is None:
        raise NotFound(NOT_FOUND_DETAIL)
    return _run(row)


async def history(
    session: AsyncSession,
    *,
    user: User,
    limit: int = HISTORY_DEFAULT_LIMIT,
    before: int | None = None,
) -> HistoryPage:
    """The user's playground runs, newest first (queued and failed ones included), with their
    summaries; keyset-paginated on id: pass ``next_before`` as ``before`` for the next page."""
    limit = max(1, min(limit, HISTORY_MAX_LIMIT))
    values: dict[str, Any] = {"user_id": user.id, "limit": limit + 1}
    if before is not None:
        values["before"] = before
    rows = (await session.execute(_history_statement(before=before is not None), values)).all()
    items = [_run(row) for row in rows[:limit]]
    return HistoryPage(items=items, next_before=items[-1].id if len(rows) > limit else None)


async def newer_before(
    session: AsyncSession, *, user: User, before: int, limit: int = HISTORY_DEFAULT_LIMIT
) -> int | None:
    """The ``before`` of the history page just newer than the page at ``before``, or None when that
    is the first page (for a "Newer" link: Older then Newer visits every run exactly once)."""
    limit = max(1, min(limit, HISTORY_MAX_LIMIT))
    ids = list(
        await session.scalars(
            select(JobExecution.id)
            .where(
                JobExecution.user_id == user.id,
                JobExecution.trigger == Trigger.PLAYGROUND.value,
                JobExecution.id >= before,
            )
            .order_by(JobExecution.id.asc())
            .limit(limit + 1)
        )
    )
    return ids[limit - 1] + 1 if len(ids) > limit else None
