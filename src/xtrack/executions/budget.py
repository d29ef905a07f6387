"""Monthly budgets: what a user spent this month (source + LLM), whether a budget is reached and
what follows, and which summarizer a run may use. The decisions are pure functions of the numbers;
the runner, manual runs and the playground each call them at one point."""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from xtrack.config import Settings
from xtrack.db import Database
from xtrack.errors import Conflict
from xtrack.executions.claims import EXECUTIONS, Claim, Owner, in_state
from xtrack.executions.models import ErrorKind, ExecutionStatus, JobExecution
from xtrack.observability import get_logger
from xtrack.summaries.models import Summary
from xtrack.summarize.base import Summarizer
from xtrack.summarize.registry import EXTRACTIVE, Summarizers
from xtrack.users.models import BudgetAction, User

logger = get_logger("xtrack.runner")

# Why a run was summarized offline although an LLM is configured (stored on the summary).
OFFLINE_FEW_POSTS = "few_posts"
OFFLINE_BUDGET = "budget"
NOTICE_PERCENTS = (80, 100)


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def month_bounds(now: datetime, timezone: str | None) -> tuple[datetime, datetime]:
    """The calendar month containing ``now`` in ``timezone``: its first instant and the next
    month's, both in UTC."""
    local = now.astimezone(_zone(timezone))
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start.astimezone(UTC), following.astimezone(UTC)


def month_key(now: datetime, timezone: str | None) -> str:
    """The month's name for the notice bookkeeping ("2026-12"), in ``timezone``."""
    return now.astimezone(_zone(timezone)).strftime("%Y-%m")


@dataclass(frozen=True, slots=True)
class Budget:
    """A user's month: the limit (None: none), what was spent, the action, and the instance ceiling."""

    limit_usd: float | None
    spent_usd: float
    action: str
    resets_at: datetime
    instance_limit_usd: float | None = None
    instance_spent_usd: float = 0.0

    @property
    def user_reached(self) -> bool:
        return self.limit_usd is not None and self.spent_usd >= self.limit_usd

    @property
    def instance_reached(self) -> bool:
        return self.instance_limit_usd is not None and self.instance_spent_usd >= self.instance_limit_usd

    @property
    def reached(self) -> bool:
        return self.user_reached or self.instance_reached

    @property
    def paused(self) -> bool:
        """Runs are refused (manual, playground) or cancelled (scheduled)."""
        return self.reached and self.action == BudgetAction.PAUSE.value

    @property
    def offline(self) -> bool:
        """Runs are summarized offline (no LLM tokens)."""
        return self.reached and self.action == BudgetAction.OFFLINE.value


def offline_reason(post_count: int, *, min_posts: int, budget: Budget | None) -> str | None:
    """Why a run with ``post_count`` new posts must not call the LLM (None: it may)."""
    if budget is not None and budget.reached:
        return OFFLINE_BUDGET
    if post_count < min_posts:
        return OFFLINE_FEW_POSTS
    return None


def notices_due(spent_usd: float, limit_usd: float | None, *, already_sent: int) -> list[int]:
    """The budget notices (80, 100 %) the spend crossed that were not sent this month yet."""
    if limit_usd is None:
        return []
    if limit_usd <= 0:
        return [p for p in NOTICE_PERCENTS if p > already_sent]
    percent = spent_usd / limit_usd * 100
    return [p for p in NOTICE_PERCENTS if percent >= p and p > already_sent]


def exhausted_message(budget: Budget) -> str:
    """The sentence a refused or cancelled run shows: which budget, and when it resets."""
    resets = budget.resets_at.strftime("%d %b %Y %H:%M UTC")
    if budget.user_reached and budget.limit_usd is not None:
        return (
            f"Your monthly budget of ${budget.limit_usd:.2f} is spent (${budget.spent_usd:.4f} this month); "
            f"runs are paused until it resets on {resets}. "
            "Raise it or set budget_action=offline in your account."
        )
    limit = budget.instance_limit_usd or 0.0
    return (
        f"This server's monthly budget of ${limit:.2f} (XTRACK_MONTHLY_BUDGET_USD) is spent; "
        f"runs are paused until it resets on {resets}."
    )


async def spent_usd(
    session: AsyncSession | AsyncConnection, *, user_id: int | None, since: datetime, until: datetime
) -> tuple[float, float]:
    """Source and LLM cost of the runs started in [since, until): one user's, or every user's (None)."""
    runs = select(func.coalesce(func.sum(JobExecution.source_cost_usd), 0.0)).where(
        JobExecution.created_at >= since, JobExecution.created_at < until
    )
    llm = select(func.coalesce(func.sum(Summary.cost), 0.0)).where(
        Summary.created_at >= since, Summary.created_at < until
    )
    if user_id is not None:
        runs = runs.where(JobExecution.user_id == user_id)
        llm = llm.where(Summary.user_id == user_id)
    return float(await session.scalar(runs) or 0.0), float(await session.scalar(llm) or 0.0)


async def instance_month_spent(session: AsyncSession | AsyncConnection, *, now: datetime) -> float:
    """What every run this calendar month (UTC) cost: a scan of the month's runs and summaries."""
    start, end = month_bounds(now, "UTC")
    return sum(await spent_usd(session, user_id=None, since=start, until=end))


async def for_user(
    session: AsyncSession | AsyncConnection,
    *,
    user: User | Owner,
    settings: Settings,
    now: datetime,
    instance_spent: float | None = None,
) -> Budget:
    """The user's budget this month (in their time zone) and the instance's (calendar month, UTC;
    ``instance_spent``: already known, not summed again)."""
    spent = 0.0
    if user.monthly_budget_usd is not None:
        since, until = month_bounds(now, user.timezone)
        spent = sum(await spent_usd(session, user_id=user.id, since=since, until=until))
    if settings.monthly_budget_usd is not None and instance_spent is None:
        instance_spent = await instance_month_spent(session, now=now)
    return budget_of(user, settings=settings, now=now, spent=spent, instance_spent=instance_spent or 0.0)


def budget_of(
    user: User | Owner, *, settings: Settings, now: datetime, spent: float, instance_spent: float
) -> Budget:
    """The month's ``Budget`` from what the user and the instance spent (``for_user`` sums them)."""
    return Budget(
        limit_usd=user.monthly_budget_usd,
        spent_usd=spent,
        action=user.budget_action,
        resets_at=month_bounds(now, user.timezone)[1],
        instance_limit_usd=settings.monthly_budget_usd,
        instance_spent_usd=instance_spent if settings.monthly_budget_usd is not None else 0.0,
    )


async def refuse_if_paused(
    session: AsyncSession, *, user_id: int | None, settings: Settings, now: datetime
) -> None:
    """Conflict (409) naming the budget and its reset when the owner's spent budget pauses runs."""
    budget = await for_user_id(session, user_id=user_id, settings=settings, now=now)
    if budget is not None and budget.paused:
        raise Conflict(exhausted_message(budget))


async def for_user_id(
    session: AsyncSession, *, user_id: int | None, settings: Settings, now: datetime
) -> Budget | None:
    """``for_user`` by id; None for the local operator's runs (no user) or a user that is gone."""
    if user_id is None:
        return None
    user = await session.get(User, user_id)
    return None if user is None else await for_user(session, user=user, settings=settings, now=now)


# The runner's two calls: the owner's budget when a run starts, and a paused budget's cancellation.

# The instance's month has no index on created_at to read it by: summing it scans every run and
# summary kept (measured: 120 ms at 200,000 runs on PostgreSQL). The runner reads it at most once a
# minute per process and database; the ceiling can be overshot by that minute's runs.
INSTANCE_SPEND_TTL = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class InstanceSpend:
    month_start: datetime
    read_at: datetime
    spent_usd: float


_INSTANCE_SPEND: weakref.WeakKeyDictionary[Database, InstanceSpend] = weakref.WeakKeyDictionary()


def fresh_spend(
    cached: InstanceSpend | None, *, now: datetime, ttl: timedelta = INSTANCE_SPEND_TTL
) -> float | None:
    """The cached instance spend while it is younger than ``ttl`` and of ``now``'s month; else None."""
    if cached is None or cached.month_start != month_bounds(now, "UTC")[0]:
        return None
    return cached.spent_usd if cached.read_at <= now < cached.read_at + ttl else None


async def _instance_spent(
    database: Database, session: AsyncSession | AsyncConnection, *, now: datetime
) -> float:
    spent = fresh_spend(_INSTANCE_SPEND.get(database), now=now)
    if spent is None:
        spent = await instance_month_spent(session, now=now)
        _INSTANCE_SPEND[database] = InstanceSpend(month_bounds(now, "UTC")[0], now, spent)
    return spent


async def for_run(database: Database, claim: Claim, *, settings: Settings, now: datetime) -> Budget | None:
    """The owner's budget this month (None for the local operator's runs and an owner that is
    gone), from the owner the claim read: a read only for an owner with a budget (their month's
    spend), and the instance's month at most once a minute (``INSTANCE_SPEND_TTL``)."""
    owner = claim.owner
    if owner is None:
        return None
    if owner.monthly_budget_usd is None and settings.monthly_budget_usd is None:
        return budget_of(owner, settings=settings, now=now, spent=0.0, instance_spent=0.0)  # nothing to sum
    async with database.autocommit() as connection:  # reads only: no BEGIN and COMMIT round trips
        instance = None
        if settings.monthly_budget_usd is not None:
            instance = await _instance_spent(database, connection, now=now)
        return await for_user(connection, user=owner, settings=settings, now=now, instance_spent=instance)


async def cancel_run(database: Database, claim: Claim, budget: Budget, *, now: datetime) -> None:
    """A spent budget set to pause: the run is CANCELLED (budget_exhausted) without a fetch, so the
    history shows the skipped slot and why."""
    async with database.session() as session:
        await session.execute(
            update(EXECUTIONS)
            .where(in_state(ExecutionStatus.RUNNING))
            .values(
                status=ExecutionStatus.CANCELLED.value,
                completed_at=now,
                error_kind=ErrorKind.BUDGET_EXHAUSTED.value,
                error_message=exhausted_message(budget),
            ),
            claim.fence,
        )
    logger.info("execution.budget_exhausted", execution_id=claim.execution_id, job_id=claim.job_id)


def choose_summarizer(
    summarizer: Summarizer | Summarizers, *, reason: str | None, post_count: int
) -> tuple[Summarizer, str | None]:
    """The summarizer a run uses, and why it is offline when an LLM was configured. A single
    summarizer given by the caller (tests, the CLI) is only overridden by a spent budget."""
    if isinstance(summarizer, Summarizers):
        if summarizer.settings.summarizer == "extractive":
            return EXTRACTIVE, None
        return (EXTRACTIVE, reason) if reason else (summarizer.for_posts(post_count), None)
    if reason == OFFLINE_BUDGET:
        return EXTRACTIVE, reason
    return summarizer, None
