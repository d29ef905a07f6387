"""Summaries: read by their owner. Never commits."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xtrack.errors import NotFound
from xtrack.summaries.models import Summary


async def get_for_owner(session: AsyncSession, *, owner_id: int, summary_id: int) -> Summary:
    """The owner's summary; NotFound for a missing one or another user's."""
    summary = (
        await session.execute(select(Summary).where(Summary.id == summary_id, Summary.user_id == owner_id))
    ).scalar_one_or_none()
    if summary is None:
        raise NotFound("Summary not found.")
    return summary
