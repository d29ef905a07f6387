"""What runs cost: upstream (estimated from the price table in the settings, a pure function) and,
for a job's month, upstream beside the summarizer's (LLM) cost."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from xtrack.config import Settings
from xtrack.executions.models import JobExecution
from xtrack.summaries.models import Summary


def source_cost_usd(settings: Settings, source_name: str, *, posts_read: int, lookups: int) -> float:
    """The estimated price of ``posts_read`` posts and ``lookups`` user lookups on ``source_name``:
    X pay-per-use bills both, twitterapi.io the posts (per 1,000), RSS bridges and the demo nothing."""
    if source_name == "x":
        cost = posts_read * settings.x_price_per_post_usd + lookups * settings.x_price_per_user_lookup_usd
    elif source_name == "twitterapi":
        cost = posts_read * settings.twitterapi_price_per_1000_posts_usd / 1000
    else:
        cost = 0.0
    return round(cost, 6)


@dataclass(frozen=True, slots=True)
class Costs:
    """Runs' upstream requests, posts read and estimated cost, and their summaries' LLM cost."""

    runs: int = 0
    source_requests: int = 0
    posts_read: int = 0
    source_cost_usd: float = 0.0
    llm_cost_usd: float = 0.0

    @property
    def total_usd(self) -> float:
        return self.source_cost_usd + self.llm_cost_usd


async def job_month_costs(session: AsyncSession, *, job_id: int, since: datetime) -> Costs:
    """What the job's runs started since ``since`` cost (the page passes the start of the owner's
    month, ``budget.month_bounds``, so this line agrees with the usage page and the budget)."""
    runs = (
        await session.execute(
            select(
                func.count(JobExecution.id),
                func.coalesce(func.sum(JobExecution.source_requests), 0),
                func.coalesce(func.sum(JobExecution.posts_read), 0),
                func.coalesce(func.sum(JobExecution.source_cost_usd), 0.0),
            ).where(JobExecution.job_id == job_id, JobExecution.created_at >= since)
        )
    ).one()
    llm = await session.scalar(
        select(func.coalesce(func.sum(Summary.cost), 0.0)).where(
            Summary.job_id == job_id, Summary.created_at >= since
        )
    )
    return Costs(int(runs[0]), int(runs[1]), int(runs[2]), float(runs[3]), float(llm or 0.0))


async def run_llm_cost(session: AsyncSession, *, execution_id: int) -> float | None:
    """The LLM cost of the run's summary (None without a summary)."""
    cost = await session.scalar(select(Summary.cost).where(Summary.execution_id == execution_id).limit(1))
    return float(cost) if cost is not None else None
