"""The runner: one execution from QUEUED to COMPLETED / FAILED (or back to QUEUED for a retry).

    claim (QUEUED -> RUNNING, conditional UPDATE)       claims.py, batched per turn of the loop
    refresh the account through the posts store         network, no transaction open (invariant 7)
    select the posts newer than the job's cursor        short read
    summarize                                           network, no transaction open
    summary + COMPLETED + cursor + what happens next    ONE transaction, fenced on (RUNNING, attempt)

It takes an id and is idempotent: a row that is gone (job deleted), not QUEUED any more, or waiting
for its ``not_before`` is left alone; running the same id twice is harmless. Every write after the
claim is fenced on the attempt number the claim saw, so a runner whose execution was reaped (and
re-queued with attempt + 1) can no longer complete it: the posts are summarized exactly once, by
whichever attempt finishes while it still holds the run. The cursor (``jobs.last_post_id``) moves
only in the completing transaction (invariant 2), together with what the run's ``hooks`` write
(the notification outbox rows).

Job runs read their inputs from the job (snapshotted into ``params`` at the claim, so history shows
what ran); playground runs (``trigger`` PLAYGROUND, no job) read them from ``params``
(``inputs.py``). Failures are classified in ``failures.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from xtrack import metrics
from xtrack.config import Settings
from xtrack.db import Database, typed_param, utcnow
from xtrack.executions import budget as budgets
from xtrack.executions.briefing import RunPosts, failure_streaks, read_accounts
from xtrack.executions.claims import EXECUTIONS, Claim, claim, in_state, release
from xtrack.executions.costs import source_cost_usd
from xtrack.executions.failures import classify, retry_wait
from xtrack.executions.heartbeat import Heartbeats
from xtrack.executions.hooks import CompletedRun, FailedRun, NoHooks, RunHooks
from xtrack.executions.inputs import RunInputs
from xtrack.executions.models import ErrorKind, ExecutionStatus
from xtrack.jobs.models import Job
from xtrack.observability import bind_execution, get_logger, unbind
from xtrack.sources.base import Post, Source
from xtrack.sources.handles import Network, network_of
from xtrack.summaries.models import Summary
from xtrack.summarize.base import Summarizer, SummaryRequest, SummaryResult
from xtrack.summarize.registry import EXTRACTIVE, Summarizers

logger = get_logger("xtrack.runner")

Clock = Callable[[], datetime]


_JOBS = cast(Table, Job.__table__)
_SUMMARIES = cast(Table, Summary.__table__)

_COMPLETE = (
    update(EXECUTIONS)
    .where(in_state(ExecutionStatus.RUNNING))
    .values(
        status=ExecutionStatus.COMPLETED.value,
        completed_at=typed_param("at", EXECUTIONS.c.completed_at),
        heartbeat_at=typed_param("at", EXECUTIONS.c.heartbeat_at),
        tweets_fetched=bindparam("posts"),
        posts_summarized=bindparam("kept"),
        warnings=typed_param("warnings_", EXECUTIONS.c.warnings),
        accounts=typed_param("accounts_", EXECUTIONS.c.accounts),
        covered_from=typed_param("from_", EXECUTIONS.c.covered_from),
        covered_to=typed_param("to", EXECUTIONS.c.covered_to),
        gap=bindparam("gap_"),
        gap_note=bindparam("gap_note"),
        source_requests=bindparam("source_requests"),
        posts_read=bindparam("posts_read"),
        source_cost_usd=bindparam("source_cost_usd"),
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
# A gap the source did not explain: the stored posts do not reach back to the window's start.
GAP_NOTE = "The source could not reach back to the start of this run's window: older posts may be missing."


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a run found and wrote: the posts summarized (after filters, reposts folded), every post
    read (the cursor moves past them all), the summary, and the window they cover."""

    posts: Sequence[Post]
    result: SummaryResult | None
    covered_from: datetime | None
    covered_to: datetime
    gap: bool
    fetched: Sequence[Post] = ()
    read: RunPosts | None = None
    gap_note: str | None = None
    # Upstream cost of this run's own fetches (none for an account whose fetch another run made).
    source_requests: int = 0
    posts_read: int = 0
    source_cost_usd: float = 0.0
    # Why the run was summarized offline although an LLM is configured (budgets.OFFLINE_*).
    offline_reason: str | None = None

    @property
    def newest_post_id(self) -> str | None:
        posts = self.fetched or self.posts
        return max(posts, key=lambda post: post.sort_key).external_id if posts else None


def _summary_values(claim: Claim, outcome: Outcome, *, now: datetime) -> dict[str, Any] | None:
    """The summary row a completed run stores (none without posts)."""
    result, posts, inputs = outcome.result, outcome.posts, claim.inputs
    if result is None or not posts:
        return None
    return {
        "job_id": claim.job_id,
        "execution_id": claim.execution_id,
        "user_id": claim.user_id,
        "is_playground": claim.is_playground,
        "x_username": inputs.x_username,
        "topics": inputs.topics,
        "hours_back": inputs.hours_back if claim.is_playground else None,
        "content": result.content,
        "tweets_count": len(posts),
        "raw_data": {
            "post_ids": [post.external_id for post in posts],
            "headline": result.headline,
            "language": inputs.language,  # the summary page says when quotes stay untranslated
            **_briefing_raw(inputs, outcome),
            "offline": outcome.offline_reason,  # the summary page says why no LLM wrote it
        },
        "created_at": now,
        "model": result.model,
        "input_tokens": result.input_tokens,
        "output_tokens": result.output_tokens,
        "cost": result.cost,
    }


def _briefing_raw(inputs: RunInputs, outcome: Outcome) -> dict[str, Any]:
    """What a briefing's summary adds to ``raw_data``: its accounts, and who reposted what."""
    if len(inputs.usernames) == 1:
        return {}
    reposted = outcome.read.reposted_by if outcome.read else {}
    return {"accounts": list(inputs.usernames), "reposted_by": reposted}


def _completed_values(claim: Claim, outcome: Outcome, now: datetime) -> dict[str, Any]:
    read = outcome.read
    return {
        **claim.fence,
        "at": now,
        "posts": len(outcome.fetched or outcome.posts),
        "kept": len(outcome.posts),
        "warnings_": (read.warnings or None) if read else None,
        "accounts_": [r.counts() for r in read.reads] if read else None,
        "from_": outcome.covered_from,
        "to": outcome.covered_to,
        "gap_": outcome.gap,
        "gap_note": outcome.gap_note if outcome.gap else None,
        "source_requests": outcome.source_requests,
        "posts_read": outcome.posts_read,
        "source_cost_usd": outcome.source_cost_usd,
    }


async def _account_streaks(session: AsyncSession, claim: Claim, outcome: Outcome) -> list[str]:
    """A briefing's per-account failure streaks moved on; the accounts whose owner is told now."""
    if claim.job_id is None or outcome.read is None or len(claim.inputs.usernames) == 1:
        return []
    current = await session.scalar(select(_JOBS.c.account_failures).where(_JOBS.c.id == claim.job_id))
    streaks, notify = failure_streaks(
        current, usernames=claim.inputs.usernames, failed=outcome.read.failed_usernames
    )
    if streaks != (current or {}):
        await session.execute(
            update(_JOBS).where(_JOBS.c.id == claim.job_id).values(account_failures=streaks or None)
        )
    return notify


async def _complete(
    database: Database,
    claim: Claim,
    outcome: Outcome,
    *,
    hooks: RunHooks,
    now: datetime,
    budget: budgets.Budget | None,
) -> bool:
    """The one transaction that finishes a run: summary, COMPLETED, the job's cursor and what the
    hooks write (notification outbox rows) together. False when the run is no longer ours.
    ``budget``: the owner's as the run started (None: no owner), which says whether a budget notice
    can be due."""
    posts = outcome.posts
    owner_has_budget = budget is not None and budget.limit_usd is not None
    async with database.session() as session:
        done = await session.execute(_COMPLETE, _completed_values(claim, outcome, now))
        if getattr(done, "rowcount", 0) != 1:
            return False  # reaped and re-queued, or the job (and this row) was deleted: not ours any more
        summary = _summary_values(claim, outcome, now=now)
        if summary is not None:
            summary["id"] = (await session.execute(_INSERT_SUMMARY, summary)).scalar_one()
        if claim.job_id is not None:
            newest = outcome.newest_post_id
            await session.execute(
                _ADVANCE_JOB,
                {"job_id": claim.job_id, "username": claim.inputs.x_username, "at": now, "newest": newest},
            )
            failing = await _account_streaks(session, claim, outcome)
            completed = CompletedRun(
                execution_id=claim.execution_id,
                job_id=claim.job_id,
                summary=summary,
                post_urls=[post.url for post in posts],
                failing_accounts=[
                    warning
                    for warning in (outcome.read.warnings if outcome.read else [])
                    if any(warning.startswith(f"@{name} ") for name in failing)
                ],
                user_id=claim.user_id,
                owner_has_budget=owner_has_budget,
            )
            await hooks.run_completed(session, completed, now=now)
        elif claim.user_id is not None:  # a playground run: its spend counts toward the budget notices
            playground = CompletedRun(
                claim.execution_id,
                None,
                summary,
                [],
                user_id=claim.user_id,
                owner_has_budget=owner_has_budget,
            )
            await hooks.run_completed(session, playground, now=now)
    return True


async def _fail(
    database: Database,
    claim: Claim,
    exc: BaseException,
    *,
    now: datetime,
    max_attempts: int,
    hooks: RunHooks,
) -> None:
    """Record a failed attempt: QUEUED again with a back-off while attempts remain, else FAILED."""
    failure = classify(exc)
    retry = failure.retryable and claim.attempt < max_attempts
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
            update(EXECUTIONS).where(in_state(ExecutionStatus.RUNNING)).values(**values), claim.fence
        )
        if not retry and claim.job_id is not None and getattr(failed, "rowcount", 0) == 1:
            failed_run = FailedRun(
                execution_id=claim.execution_id, job_id=claim.job_id, error=failure.message
            )
            await hooks.run_failed(session, failed_run, now=now)
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


async def _fetch_and_summarize(
    database: Database,
    claim: Claim,
    *,
    now: Clock,
    settings: Settings,
    source: Source,
    summarizer: Summarizer | Summarizers,
    budget: budgets.Budget | None = None,
) -> Outcome:
    """Refresh the accounts, pick the run's posts and summarize them (no transaction held open)."""
    inputs = claim.inputs
    read = await read_accounts(
        database, source, inputs, started_at=claim.started_at, now=now, lease_seconds=settings.lease_seconds
    )
    posts = read.kept
    result: SummaryResult | None = None
    offline: str | None = None
    if posts:
        reason = budgets.offline_reason(len(posts), min_posts=settings.llm_min_posts, budget=budget)
        summarizer, offline = budgets.choose_summarizer(summarizer, reason=reason, post_count=len(posts))
        request = SummaryRequest(
            username=inputs.x_username,
            posts=posts,
            topics=inputs.topics,
            language=inputs.language,
            accounts=inputs.usernames if len(inputs.usernames) > 1 else (),
            reposted_by=read.reposted_by,
        )
        result = await summarizer.summarize(request)
    snapshots = [r.snapshot for r in read.reads if r.snapshot is not None]
    fetched_at = [s.fetched_at for s in snapshots if s.fetched_at is not None]
    gap = any(s.gap for s in snapshots)
    # A fetch's own gap (a poll stopped short) counts even where older coverage hides it.
    gap_note = next((s.gap_note for s in snapshots if s.gap_note), None) or (GAP_NOTE if gap else None)
    posts_read = sum(s.posts_read for s in snapshots)
    # Bluesky and Mastodon bill nothing: only the X accounts' reads and lookups cost money.
    on_x = [s for s in snapshots if network_of(s.username) is Network.X]
    billed_posts = sum(s.posts_read for s in on_x)
    lookups = sum(s.lookups for s in on_x)
    return Outcome(
        posts=posts,
        result=result,
        covered_from=inputs.since or read.reads[0].cursor_created_at,
        covered_to=min(fetched_at) if fetched_at else claim.started_at,
        gap=gap or gap_note is not None,
        gap_note=gap_note,
        fetched=read.fetched,
        read=read,
        source_requests=sum(s.requests_made for s in snapshots),
        posts_read=posts_read,
        source_cost_usd=source_cost_usd(settings, source.name, posts_read=billed_posts, lookups=lookups),
        offline_reason=offline,
    )


async def _work(
    database: Database,
    claim: Claim,
    *,
    now: Clock,
    settings: Settings,
    source: Source,
    summarizer: Summarizer | Summarizers,
    hooks: RunHooks,
) -> None:
    budget = await budgets.for_run(database, claim, settings=settings, now=now())
    if budget is not None and budget.paused:
        await budgets.cancel_run(database, claim, budget, now=now())
        return
    outcome = await _fetch_and_summarize(
        database, claim, now=now, settings=settings, source=source, summarizer=summarizer, budget=budget
    )
    if not await _complete(database, claim, outcome, hooks=hooks, now=now(), budget=budget):
        logger.info("execution.superseded", execution_id=claim.execution_id, attempt=claim.attempt)
        return
    posts = len(outcome.fetched or outcome.posts)
    seconds = (now() - claim.started_at).total_seconds()
    logger.info(
        "execution.completed",
        execution_id=claim.execution_id,
        job_id=claim.job_id,
        posts=posts,
        attempt=claim.attempt,
        duration_ms=round(seconds * 1000),
    )
    metrics.execution_finished(
        status=ExecutionStatus.COMPLETED.value, trigger=claim.trigger, seconds=seconds, posts=posts
    )


async def run_execution(
    execution_id: int,
    *,
    database: Database,
    settings: Settings,
    source: Source,
    heartbeats: Heartbeats,
    summarizer: Summarizer | Summarizers | None = None,
    hooks: RunHooks | None = None,
    now: Clock = utcnow,
) -> None:
    """Run one execution (see the module docstring). The runtime passes the process's source,
    summarizers (one summarizer, or the process's ``Summarizers`` choosing by post count),
    heartbeats and hooks; tests pass their own, and a clock."""
    claimed = await claim(database, execution_id, now=now())
    if claimed is None:
        return
    log_context = bind_execution(
        execution_id=claimed.execution_id,
        job_id=claimed.job_id,
        user_id=claimed.user_id,
        trigger=claimed.trigger,
        attempt=claimed.attempt,
    )
    hooks = hooks or NoHooks()
    summarizer = summarizer or EXTRACTIVE
    heartbeats.add(claimed.execution_id, database)
    try:
        await _work(
            database, claimed, now=now, settings=settings, source=source, summarizer=summarizer, hooks=hooks
        )
    except asyncio.CancelledError:
        await release(database, claimed)
        raise
    except Exception as exc:
        if classify(exc).kind == ErrorKind.INTERNAL.value:
            logger.exception("execution.internal_error", execution_id=claimed.execution_id)
        await _fail(database, claimed, exc, now=now(), max_attempts=settings.max_attempts, hooks=hooks)
    finally:
        heartbeats.discard(claimed.execution_id)
        unbind(log_context)
