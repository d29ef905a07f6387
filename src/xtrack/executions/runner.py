"""The runner: one execution from QUEUED to COMPLETED / FAILED (or back to QUEUED for a retry).

    claim (QUEUED -> RUNNING, conditional UPDATE)       short transaction
    refresh the account through the sources layer       network, no transaction open (invariant 7)
    select the posts newer than the job's cursor        short read
    summarize                                           network, no transaction open
    summary + COMPLETED + cursor                        ONE transaction, fenced on (RUNNING, attempt)

It takes an id and is idempotent: a row that is gone (job deleted), not QUEUED any more, or waiting
for its ``not_before`` is left alone; running the same id twice is harmless. Every write after the
claim is fenced on the attempt number the claim saw, so a runner whose execution was reaped (and
re-queued with attempt + 1) can no longer complete it: the posts are summarized exactly once, by
whichever attempt finishes while it still holds the run. The cursor (``jobs.last_post_id``) moves
only in the completing transaction (invariant 2).

Job runs read their inputs from the job (snapshotted into ``params`` at the claim, so history shows
what ran); playground runs (``trigger`` PLAYGROUND, no job) read them from ``params``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, cast

from sqlalchemy import Integer, Table, bindparam, column, func, insert, select, update, values
from sqlalchemy.exc import DBAPIError, OperationalError

from xtrack import backoff, metrics
from xtrack.config import Settings, get_settings
from xtrack.db import Database, JSONType, UTCDateTime, get_database, typed_param, utcnow
from xtrack.executions.batching import TurnBatches
from xtrack.executions.heartbeat import HEARTBEATS, Heartbeats
from xtrack.executions.hooks import CompletedRun, FailedRun
from xtrack.executions.models import ErrorKind, ExecutionStatus, JobExecution, Trigger
from xtrack.jobs import schedule
from xtrack.jobs.models import Job
from xtrack.notify.outbox import RunNotifications
from xtrack.observability import bind_execution, get_logger, unbind
from xtrack.sources import service as sources_service
from xtrack.sources.base import Post, Source, SourceError, SourceRateLimited
from xtrack.summaries.models import Summary
from xtrack.summarize.base import SummarizeError, Summarizer, SummaryRequest, SummaryResult
from xtrack.users.models import User, UserStatus

logger = get_logger("xtrack.runner")

Clock = Callable[[], datetime]

# Automatic retries of a failed attempt wait backoff_delay(attempt, base, cap) seconds.
RETRY_BASE_SECONDS = 30.0
RETRY_CAP_SECONDS = 15 * 60.0


@dataclass(frozen=True, slots=True)
class Claim:
    """What the claim saw and decided: the run's inputs and its fencing token (``attempt``)."""

    execution_id: int
    attempt: int
    job_id: int | None
    user_id: int | None
    trigger: str
    started_at: datetime
    x_username: str
    topics: list[str]
    language: str
    hours_back: int | None
    cursor: str | None
    since: datetime | None  # lower bound on post time when there is no cursor
    need_since: datetime  # how far back the account's stored posts must reach

    @property
    def is_playground(self) -> bool:
        return self.trigger == Trigger.PLAYGROUND.value


class RunFailure(Exception):
    """A classified failure: ``kind`` is the execution's error_kind."""

    def __init__(self, kind: str, message: str, *, retryable: bool, retry_at: datetime | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retryable = retryable
        self.retry_at = retry_at


def classify(exc: BaseException) -> RunFailure:
    """Map an exception to error_kind, a readable message and whether a retry can help."""
    if isinstance(exc, RunFailure):
        return exc
    if isinstance(exc, SourceRateLimited):
        return RunFailure(
            ErrorKind.RATE_LIMITED.value,
            f"The source is rate limited until {exc.reset_at:%Y-%m-%d %H:%M:%S} UTC: {exc.message}",
            retryable=True,
            retry_at=exc.reset_at,
        )
    if isinstance(exc, SourceError):
        return RunFailure(exc.kind, exc.message, retryable=exc.retryable)
    if isinstance(exc, SummarizeError):
        return RunFailure(ErrorKind.LLM.value, f"Summarizing failed: {exc.message}", retryable=exc.retryable)
    if isinstance(exc, OperationalError | DBAPIError) and getattr(exc, "connection_invalidated", False):
        return RunFailure(ErrorKind.INTERNAL.value, "Lost the database connection.", retryable=True)
    if isinstance(exc, OSError | TimeoutError):
        return RunFailure(ErrorKind.INTERNAL.value, f"{type(exc).__name__}: {exc}"[:500], retryable=True)
    return RunFailure(ErrorKind.INTERNAL.value, f"Internal error ({type(exc).__name__}).", retryable=False)


def retry_wait(failure: RunFailure, exc: BaseException, *, attempt: int, now: datetime) -> datetime:
    """When a retry may start: a rate limit's reset, a provider's Retry-After, or a back-off."""
    if failure.retry_at is not None:
        return max(failure.retry_at, now)
    delay = backoff.backoff_delay(attempt, base=RETRY_BASE_SECONDS, cap=RETRY_CAP_SECONDS)
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, int | float) and retry_after > delay:
        delay = float(retry_after)
    return backoff.not_before(now, delay)


# The runner's statements, built once with bind parameters (Core, not ORM units of work: a run's
# CPU was mostly SQLAlchemy building and bookkeeping statements; see bench/RESULTS.md).
_EXECUTIONS = cast(Table, JobExecution.__table__)
_JOBS = cast(Table, Job.__table__)
_USERS = cast(Table, User.__table__)
_SUMMARIES = cast(Table, Summary.__table__)


_CLAIM_READ = (
    select(
        _EXECUTIONS.c.id,
        _EXECUTIONS.c.status,
        _EXECUTIONS.c.attempt,
        _EXECUTIONS.c.not_before,
        _EXECUTIONS.c.job_id,
        _EXECUTIONS.c.user_id,
        _EXECUTIONS.c.trigger,
        _EXECUTIONS.c.params,
        _EXECUTIONS.c.scheduled_for,
        _JOBS.c.id.label("job_found"),
        _JOBS.c.is_active,
        _JOBS.c.x_username,
        _JOBS.c.topics,
        _JOBS.c.language,
        _JOBS.c.frequency,
        _JOBS.c.last_run,
        _JOBS.c.last_post_id,
        _USERS.c.status.label("owner_status"),
    )
    .select_from(
        _EXECUTIONS.outerjoin(_JOBS, _JOBS.c.id == _EXECUTIONS.c.job_id).outerjoin(
            _USERS, _USERS.c.id == _EXECUTIONS.c.user_id
        )
    )
    .where(_EXECUTIONS.c.id.in_(bindparam("execution_ids", expanding=True)))
)


def _in_state(status: ExecutionStatus) -> Any:
    """The execution row, while it is in ``status`` at the attempt the caller saw (its fence)."""
    return (
        (_EXECUTIONS.c.id == bindparam("run_id"))
        & (_EXECUTIONS.c.status == status.value)
        & (_EXECUTIONS.c.attempt == bindparam("seen_attempt"))
    )


_CANCEL = (
    update(_EXECUTIONS)
    .where(_in_state(ExecutionStatus.QUEUED))
    .values(
        status=ExecutionStatus.CANCELLED.value,
        completed_at=typed_param("at", _EXECUTIONS.c.completed_at),
        error_message=bindparam("reason"),
    )
)


def _start_claimed(claims: Sequence[tuple[int, int, dict[str, Any], datetime]]) -> Any:
    """QUEUED -> RUNNING for many executions in one statement, each fenced on the attempt its read
    saw: ``claims`` are (id, attempt, inputs snapshot, started_at); returns the ids it started."""
    claimed = (
        values(
            column("id", Integer),
            column("attempt", Integer),
            column("inputs", JSONType),
            column("at", UTCDateTime),
            name="claimed",
        )
        .data(list(claims))
        .cte("claimed")
    )
    return (
        update(_EXECUTIONS)
        .where(
            _EXECUTIONS.c.id == claimed.c.id,
            _EXECUTIONS.c.status == ExecutionStatus.QUEUED.value,
            _EXECUTIONS.c.attempt == claimed.c.attempt,
        )
        .values(
            status=ExecutionStatus.RUNNING.value,
            started_at=claimed.c.at,
            heartbeat_at=claimed.c.at,
            completed_at=None,
            params=claimed.c.inputs,
        )
        .returning(_EXECUTIONS.c.id)
    )


_COMPLETE = (
    update(_EXECUTIONS)
    .where(_in_state(ExecutionStatus.RUNNING))
    .values(
        status=ExecutionStatus.COMPLETED.value,
        completed_at=typed_param("at", _EXECUTIONS.c.completed_at),
        heartbeat_at=typed_param("at", _EXECUTIONS.c.heartbeat_at),
        tweets_fetched=bindparam("posts"),
        covered_from=typed_param("from_", _EXECUTIONS.c.covered_from),
        covered_to=typed_param("to", _EXECUTIONS.c.covered_to),
        gap=bindparam("gap_"),
        error_kind=None,
        error_message=None,
        not_before=None,
    )
)
# The cursor belongs to the account that ran: a username changed meanwhile starts over.
_ADVANCE_JOB = (
    update(_JOBS)
    .where(_JOBS.c.id == bindparam("job_id"), _JOBS.c.x_username == bindparam("username"))
    .values(
        last_run=typed_param("at", _JOBS.c.last_run),
        last_post_id=func.coalesce(typed_param("newest", _JOBS.c.last_post_id), _JOBS.c.last_post_id),
    )
)
_INSERT_SUMMARY = insert(_SUMMARIES).returning(_SUMMARIES.c.id)


def _fence(claim: Claim) -> dict[str, Any]:
    """The bind values of ``_in_state``: this run, at the attempt its claim saw."""
    return {"run_id": claim.execution_id, "seen_attempt": claim.attempt}


class JobColumns(Protocol):
    """The job columns a run's inputs come from (the claim's row carries them)."""

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


def _job_inputs(job: JobColumns, *, now: datetime) -> dict[str, Any]:
    """The run's inputs from the job's columns (a Job, or the claim's row)."""
    start = schedule.window_start(now=now, frequency_minutes=job.frequency, last_run=job.last_run)
    return {
        "x_username": job.x_username,
        "topics": list(job.topics or []),
        "language": job.language,
        "hours_back": None if job.last_post_id or job.last_run else schedule.first_run_hours(job.frequency),
        "cursor": job.last_post_id,
        "since": None if job.last_post_id else start,
        "need_since": start,
    }


def _params_snapshot(inputs: dict[str, Any]) -> dict[str, Any]:
    """What the claim records in ``params``, so the history shows what ran."""
    params = {key: inputs[key] for key in ("x_username", "topics", "language")}
    if inputs["hours_back"] is not None:
        params["hours_back"] = inputs["hours_back"]
    return params


def _playground_inputs(params: dict[str, Any] | None, *, now: datetime) -> dict[str, Any]:
    params = params or {}
    hours_back = max(1, int(params.get("hours_back") or 24))
    start = schedule.playground_window_start(now=now, hours_back=hours_back)
    return {
        "x_username": str(params.get("x_username") or ""),
        "topics": [str(t) for t in params.get("topics") or []],
        "language": str(params.get("language") or "en"),
        "hours_back": hours_back,
        "cursor": None,
        "since": start,
        "need_since": start,
    }


# A claim batch is at most this many runs (the read's IN list and the UPDATE's VALUES rows).
CLAIM_BATCH_MAX = 200


async def _claim(database: Database, execution_id: int, *, now: datetime) -> Claim | None:
    """Claim one execution (QUEUED -> RUNNING) if it is still due; None when it is gone, not
    QUEUED, waiting for its ``not_before``, cancelled, or claimed by another run meanwhile. Runs
    that start in the same turn of the loop (a tick's burst, a worker's messages) claim together."""
    return await _CLAIMS.submit(database, (execution_id, now))


async def _give_back(database: Database, claim: Claim | None) -> None:
    if claim is not None:  # its run was cancelled while the batch was claiming
        await _release(database, claim)


async def _claim_many(database: Database, wanted: Sequence[tuple[int, datetime]]) -> list[Claim | None]:
    """One read and one UPDATE for a batch of (execution id, now); one result per item."""
    # Autocommit: the read decides, and the UPDATE that acts on it is fenced on (QUEUED, attempt),
    # so the two need no transaction around them (and save its BEGIN and COMMIT round trips).
    async with database.autocommit() as connection:
        found = await connection.execute(_CLAIM_READ, {"execution_ids": [i for i, _ in wanted]})
        rows = {row.id: row for row in found}
        cancels: list[dict[str, Any]] = []
        starts: list[tuple[int, int, dict[str, Any], datetime]] = []
        prepared: dict[int, tuple[Any, dict[str, Any], datetime, bool]] = {}
        for execution_id, now in wanted:
            row = rows.get(execution_id)
            if row is None:
                logger.info("execution.gone", execution_id=execution_id)
                continue
            if row.status != ExecutionStatus.QUEUED.value or row.id in prepared:
                continue  # not ours to claim, or the same id twice (a redelivered message beside it)
            if row.not_before is not None and row.not_before > now:
                continue
            reason = None
            if row.job_id is not None and (row.job_found is None or not row.is_active):
                reason = "Cancelled: the job was paused before this run started."
            elif row.owner_status == UserStatus.SUSPENDED.value:
                reason = "Cancelled: the owner's account is suspended."
            if reason is not None:
                cancels.append({"run_id": row.id, "seen_attempt": row.attempt, "at": now, "reason": reason})
                logger.info("execution.cancelled", execution_id=row.id, reason=reason)
                metrics.execution_finished(status=ExecutionStatus.CANCELLED.value, trigger=row.trigger)
                continue
            is_job_run = row.job_id is not None
            inputs = _job_inputs(row, now=now) if is_job_run else _playground_inputs(row.params, now=now)
            starts.append((row.id, row.attempt, _params_snapshot(inputs), now))
            prepared[row.id] = (row, inputs, now, is_job_run)
        if cancels:
            await connection.execute(_CANCEL, cancels)
        started: set[int] = set()
        if starts:
            started = set((await connection.execute(_start_claimed(starts))).scalars())
    claims: dict[int, Claim] = {}
    for execution_id in started:
        row, inputs, now, is_job_run = prepared[execution_id]
        metrics.execution_started(
            trigger=row.trigger, attempt=row.attempt, scheduled_for=row.scheduled_for, started_at=now
        )
        claims[execution_id] = Claim(
            execution_id=row.id,
            attempt=row.attempt,
            job_id=row.job_id,
            user_id=row.user_id,
            trigger=row.trigger,
            started_at=now,
            **inputs,
        )
    # Each id's claim goes to its first occurrence; a duplicate in the same batch gets None.
    return [claims.pop(execution_id, None) for execution_id, _now in wanted]


_CLAIMS: TurnBatches[tuple[int, datetime], Claim | None] = TurnBatches(
    _claim_many, max_size=CLAIM_BATCH_MAX, abandoned=_give_back
)


async def _complete(
    database: Database,
    claim: Claim,
    *,
    posts: Sequence[Post],
    result: SummaryResult | None,
    covered_from: datetime | None,
    covered_to: datetime,
    gap: bool,
    now: datetime,
    settings: Settings | None = None,
) -> bool:
    """The one transaction that finishes a run: summary, COMPLETED, the job's cursor and the
    notification outbox rows together."""
    async with database.session() as session:
        done = await session.execute(
            _COMPLETE,
            {
                **_fence(claim),
                "at": now,
                "posts": len(posts),
                "from_": covered_from,
                "to": covered_to,
                "gap_": gap,
            },
        )
        if getattr(done, "rowcount", 0) != 1:
            return False  # reaped and re-queued, or the job (and this row) was deleted: not ours any more
        newest = max(posts, key=lambda post: post.sort_key).external_id if posts else None
        summary: dict[str, Any] | None = None
        if result is not None and posts:
            summary = {
                "job_id": claim.job_id,
                "execution_id": claim.execution_id,
                "user_id": claim.user_id,
                "is_playground": claim.is_playground,
                "x_username": claim.x_username,
                "topics": claim.topics,
                "hours_back": claim.hours_back if claim.is_playground else None,
                "content": result.content,
                "tweets_count": len(posts),
                "raw_data": {"post_ids": [post.external_id for post in posts], "headline": result.headline},
                "created_at": now,
                "model": result.model,
                "input_tokens": result.input_tokens,
                "output_tokens": result.output_tokens,
                "cost": result.cost,
            }
            summary["id"] = (await session.execute(_INSERT_SUMMARY, summary)).scalar_one()
        if claim.job_id is not None:
            await session.execute(
                _ADVANCE_JOB,
                {"job_id": claim.job_id, "username": claim.x_username, "at": now, "newest": newest},
            )
            # Notifications: outbox rows in this same transaction (sent after the commit).
            completed = CompletedRun(claim.execution_id, claim.job_id, summary, [post.url for post in posts])
            await RunNotifications(settings or get_settings()).run_completed(session, completed, now=now)
    return True


async def _fail(
    database: Database, claim: Claim, exc: BaseException, *, now: datetime, settings: Settings
) -> None:
    failure = classify(exc)
    retry = failure.retryable and claim.attempt < settings.max_attempts
    values: dict[str, Any] = {"error_kind": failure.kind, "error_message": failure.message[:2000]}
    if retry:
        values |= {
            "status": ExecutionStatus.QUEUED.value,
            "attempt": claim.attempt + 1,
            "not_before": retry_wait(failure, exc, attempt=claim.attempt, now=now),
            "queued_at": now,
            "heartbeat_at": None,
        }
    else:
        values |= {"status": ExecutionStatus.FAILED.value, "completed_at": now}
    async with database.session() as session:
        failed = await session.execute(
            update(_EXECUTIONS).where(_in_state(ExecutionStatus.RUNNING)).values(**values), _fence(claim)
        )
        if not retry and claim.job_id is not None and getattr(failed, "rowcount", 0) == 1:
            # Notifications: a failure notice after N failed runs in a row, in this same transaction.
            failed_run = FailedRun(claim.execution_id, claim.job_id, failure.message)
            await RunNotifications(settings).run_failed(session, failed_run, now=now)
    logger.warning(
        "execution.failed",
        execution_id=claim.execution_id,
        job_id=claim.job_id,
        error_kind=failure.kind,
        attempt=claim.attempt,
        will_retry=retry,
    )
    metrics.execution_finished(
        status=metrics.RETRYING if retry else ExecutionStatus.FAILED.value,
        trigger=claim.trigger,
        error_kind=failure.kind,
        seconds=(now - claim.started_at).total_seconds(),
    )


async def _release(database: Database, claim: Claim) -> None:
    """Give an interrupted run back (graceful shutdown): QUEUED again, same attempt, handed out next tick."""
    async with database.session() as session:
        await session.execute(
            update(_EXECUTIONS)
            .where(_in_state(ExecutionStatus.RUNNING))
            .values(status=ExecutionStatus.QUEUED.value, queued_at=None, heartbeat_at=None),
            _fence(claim),
        )
    logger.info("execution.released", execution_id=claim.execution_id)


async def _work(
    database: Database,
    claim: Claim,
    *,
    now: Clock,
    settings: Settings,
    source: Source | None,
    summarizer: Summarizer | None,
) -> None:
    if source is None:
        from xtrack.sources.registry import get_source

        source = get_source(settings)
    wanted = sources_service.PostsWanted(after_post_id=claim.cursor, since=claim.since)
    snapshot = await sources_service.refresh_account(
        database,
        source,
        username=claim.x_username,
        need_since=claim.need_since,
        requested_at=claim.started_at,
        now=now,
        wanted=wanted,
    )
    found = snapshot.new_posts
    if found is None:  # it joined another run's fetch of the account: read them here
        async with database.session() as session:
            found = await sources_service.new_posts(session, account_id=snapshot.account_id, wanted=wanted)
    posts = found.posts
    covered_from = claim.since or found.cursor_created_at
    result: SummaryResult | None = None
    if posts:
        if summarizer is None:
            from xtrack.summarize.registry import get_summarizer

            summarizer = get_summarizer(settings, post_count=len(posts))
        result = await summarizer.summarize(
            SummaryRequest(
                username=claim.x_username, posts=posts, topics=claim.topics, language=claim.language
            )
        )
    covered_to = snapshot.fetched_at or claim.started_at
    finished = await _complete(
        database,
        claim,
        posts=posts,
        result=result,
        covered_from=covered_from,
        covered_to=covered_to,
        gap=snapshot.gap,
        now=now(),
        settings=settings,
    )
    if finished:
        seconds = (now() - claim.started_at).total_seconds()
        logger.info(
            "execution.completed",
            execution_id=claim.execution_id,
            job_id=claim.job_id,
            posts=len(posts),
            attempt=claim.attempt,
            duration_ms=round(seconds * 1000),
        )
        metrics.execution_finished(
            status=ExecutionStatus.COMPLETED.value, trigger=claim.trigger, seconds=seconds, posts=len(posts)
        )
    else:
        logger.info("execution.superseded", execution_id=claim.execution_id, attempt=claim.attempt)


async def run_execution(
    execution_id: int,
    *,
    now: Clock = utcnow,
    database: Database | None = None,
    settings: Settings | None = None,
    source: Source | None = None,
    summarizer: Summarizer | None = None,
    heartbeats: Heartbeats | None = None,
) -> None:
    """Run one execution (see the module docstring). ``source``/``summarizer`` default to the
    configured ones; tests inject their own, and a clock."""
    database = database or get_database()
    settings = settings or get_settings()
    claim = await _claim(database, execution_id, now=now())
    if claim is None:
        return
    log_context = bind_execution(
        execution_id=claim.execution_id,
        job_id=claim.job_id,
        user_id=claim.user_id,
        trigger=claim.trigger,
        attempt=claim.attempt,
    )
    registry = heartbeats or HEARTBEATS
    registry.add(claim.execution_id, database)
    try:
        await _work(database, claim, now=now, settings=settings, source=source, summarizer=summarizer)
    except asyncio.CancelledError:
        await _release(database, claim)
        raise
    except Exception as exc:
        failure = classify(exc)
        if failure.kind == ErrorKind.INTERNAL.value:
            logger.exception("execution.internal_error", execution_id=claim.execution_id)
        await _fail(database, claim, exc, now=now(), settings=settings)
    finally:
        registry.discard(claim.execution_id)
        unbind(log_context)
