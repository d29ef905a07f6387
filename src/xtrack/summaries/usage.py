"""What a user's summaries cost: tokens and US dollars, summed over the summaries table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from xtrack.summaries.models import Summary


@dataclass(frozen=True, slots=True)
class CostTotals:
    input_tokens: int
    output_tokens: int
    cost: float  # US dollars
    summaries: int


async def cost_totals(session: AsyncSession, *, user_id: int, since: datetime | None = None) -> CostTotals:
    """Tokens, cost and count of the user's summaries (jobs and playground), optionally since a time."""
    query = select(
        func.coalesce(func.sum(Summary.input_tokens), 0),
        func.coalesce(func.sum(Summary.output_tokens), 0),
        func.coalesce(func.sum(Summary.cost), 0.0),
        func.count(Summary.id),
    ).where(Summary.user_id == user_id)
    if since is not None:
        if since.tzinfo is None:
            raise ValueError("naive datetime refused: pass a timezone-aware UTC time")
        query = query.where(Summary.created_at >= since)
    row = (await session.execute(query)).one()
    return CostTotals(
        input_tokens=int(row[0]),
        output_tokens=int(row[1]),
        cost=round(float(row[2]), 8),
        summaries=int(row[3]),
    )
