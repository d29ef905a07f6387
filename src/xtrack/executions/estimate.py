"""What a run is expected to cost before it spends anything: posts from the account's posting rate
(when XTrack has read it before) or a busy account's rate, priced like a finished run. Pure, apart
from the one read of the posting rate."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from xtrack.config import Settings
from xtrack.errors import Conflict
from xtrack.executions.costs import source_cost_usd
from xtrack.jobs import schedule
from xtrack.posts.models import StoredPost, XAccount
from xtrack.sources.handles import Network, network_of
from xtrack.sources.networks import source_name_for
from xtrack.summarize.pricing import find_price, price_table

# Without a posting rate, assume up to a busy account's: 20 posts an hour.
BUSY_POSTS_PER_HOUR = 20.0
MAX_POSTS = 3200  # X serves at most the latest 3,200 posts of a timeline
RATE_WINDOW = timedelta(days=7)
PROMPT_TOKENS, TOKENS_PER_POST = 600, 80


@dataclass(frozen=True, slots=True)
class Estimate:
    posts_low: int
    posts_high: int
    cost_low: float
    cost_high: float
    rate_known: bool

    def words(self) -> str:
        posts = (
            f"{self.posts_low} to {self.posts_high} posts"
            if self.posts_low != self.posts_high
            else f"{self.posts_high} posts"
        )
        return f"about {posts}, ${self.cost_low:.3f} to ${self.cost_high:.3f}"


def _llm_cost(settings: Settings, posts: int) -> float:
    if settings.summarizer == "extractive" or posts < settings.llm_min_posts or not settings.llm_model:
        return 0.0
    price = find_price(settings.llm_model, price_table(settings.llm_prices))
    if price is None:
        return 0.0
    tokens_in = PROMPT_TOKENS + TOKENS_PER_POST * posts
    return (tokens_in * price.input + settings.llm_max_output_tokens * price.output) / 1_000_000


def _posts_range(hours_back: int, posts_per_hour: float | None) -> tuple[int, int]:
    if posts_per_hour is None:
        return 0, min(MAX_POSTS, math.ceil(BUSY_POSTS_PER_HOUR * hours_back))
    expected = posts_per_hour * hours_back
    return min(MAX_POSTS, math.floor(expected / 2)), min(MAX_POSTS, math.ceil(expected * 2))


def estimate_accounts(
    settings: Settings,
    *,
    hours_back: int,
    rates: Sequence[float | None],
    billed: Sequence[bool] | None = None,
) -> Estimate:
    """The expected posts and cost range of reading ``hours_back`` hours of each account (a
    briefing reads several: each account's posts and its lookup, then one summary of them all).
    ``billed``: per account, whether its source bills (X does; Bluesky and Mastodon do not)."""
    ranges = [_posts_range(hours_back, rate) for rate in rates]
    paid = [r for r, bill in zip(ranges, billed or [True] * len(ranges), strict=True) if bill]
    low, high = sum(r[0] for r in ranges), sum(r[1] for r in ranges)

    def cost(posts: int, billed_posts: int) -> float:
        upstream = source_cost_usd(settings, settings.source, posts_read=billed_posts, lookups=len(paid))
        return round(upstream + _llm_cost(settings, posts), 6)

    known = all(rate is not None for rate in rates)
    return Estimate(
        low,
        high,
        cost(low, sum(r[0] for r in paid)),
        cost(high, sum(r[1] for r in paid)),
        rate_known=known,
    )


def estimate(settings: Settings, *, hours_back: int, posts_per_hour: float | None) -> Estimate:
    """The expected posts and cost range of reading ``hours_back`` hours of one account."""
    return estimate_accounts(settings, hours_back=hours_back, rates=[posts_per_hour])


def needs_confirmation(settings: Settings, found: Estimate) -> bool:
    return found.cost_high > settings.confirm_above_usd


async def posting_rate(session: AsyncSession, *, source: str, username: str, now: datetime) -> float | None:
    """Posts per hour of the account over the stored last week; None when XTrack never read it."""
    account = await session.scalar(
        select(XAccount).where(
            XAccount.source == source,
            XAccount.network == network_of(username).value,
            XAccount.username == username.lower().lstrip("@"),
        )
    )
    if account is None or account.last_fetched_at is None:
        return None
    since = max(now - RATE_WINDOW, account.covered_since or now - RATE_WINDOW)
    hours = max(1.0, (now - since).total_seconds() / 3600)
    count = await session.scalar(
        select(func.count())
        .select_from(StoredPost)
        .where(StoredPost.account_id == account.id, StoredPost.created_at >= since)
    )
    return float(count or 0) / hours


async def for_accounts(
    session: AsyncSession,
    *,
    settings: Settings,
    usernames: Sequence[str],
    hours_back: int,
    now: datetime,
) -> Estimate:
    """The estimate of reading ``hours_back`` hours of ``usernames``, from their stored posting rates."""
    rates = [
        await posting_rate(
            session, source=source_name_for(settings.source, username), username=username, now=now
        )
        for username in usernames
    ]
    billed = [network_of(username) is Network.X for username in usernames]
    return estimate_accounts(settings, hours_back=hours_back, rates=rates, billed=billed)


async def first_run(
    session: AsyncSession,
    *,
    settings: Settings,
    usernames: Sequence[str],
    frequency_minutes: int,
    now: datetime,
) -> Estimate:
    """The estimate of a new job's first run: its accounts over the first run's window (the last
    24 hours, or one interval when that is longer; ``jobs.schedule.first_run_hours``)."""
    hours = schedule.first_run_hours(frequency_minutes)
    return await for_accounts(session, settings=settings, usernames=usernames, hours_back=hours, now=now)


def refuse_unconfirmed(
    settings: Settings,
    found: Estimate,
    *,
    accounts: int,
    subject: str = "This run",
    action: str = "run it",
) -> None:
    """Conflict (409, on ``confirm_cost``) naming the expected posts and cost when ``found`` may
    cost more than XTRACK_CONFIRM_ABOVE_USD."""
    if not needs_confirmation(settings, found):
        return
    one = accounts == 1
    if found.rate_known:
        basis = "from the account's recent posts" if one else "from the accounts' recent posts"
    else:
        basis = (
            "XTrack has not read this account yet"
            if one
            else "XTrack has not read some of these accounts yet"
        )
    raise Conflict(
        f"{subject} may cost more than ${settings.confirm_above_usd:.2f}: {found.words()} ({basis}). "
        f"Confirm to {action} (confirm_cost=true).",
        field="confirm_cost",
    )


async def require_confirmation(
    session: AsyncSession,
    *,
    settings: Settings,
    usernames: Sequence[str],
    hours_back: int,
    now: datetime,
) -> None:
    """Conflict (409, on ``confirm_cost``) with the expected posts and cost when the run over
    ``usernames`` may cost more than XTRACK_CONFIRM_ABOVE_USD."""
    found = await for_accounts(
        session, settings=settings, usernames=usernames, hours_back=hours_back, now=now
    )
    refuse_unconfirmed(settings, found, accounts=len(usernames))
