"""Summaries: read by their owner. Never commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from xtrack.errors import NotFound
from xtrack.posts.models import StoredPost, XAccount
from xtrack.summaries.models import Summary


async def get_for_owner(session: AsyncSession, *, owner_id: int, summary_id: int) -> Summary:
    """The owner's summary; NotFound for a missing one or another user's."""
    summary = (
        await session.execute(select(Summary).where(Summary.id == summary_id, Summary.user_id == owner_id))
    ).scalar_one_or_none()
    if summary is None:
        raise NotFound("Summary not found.")
    return summary


def post_ids(summary: Summary) -> list[str]:
    """The ids of the posts the summary was written from, in the order the summarizer saw them."""
    raw = summary.raw_data or {}
    ids = raw.get("post_ids") or []
    return [str(post_id) for post_id in ids] if isinstance(ids, list) else []


async def cited_posts(session: AsyncSession, *, summary: Summary) -> list[StoredPost]:
    """The stored posts a summary cites (its ``raw_data`` post ids), newest first, in one query.

    Posts are matched on the account the summary followed; ids whose posts were pruned are absent.
    """
    ids = post_ids(summary)
    if not ids:
        return []
    query = select(StoredPost).where(StoredPost.external_id.in_(ids))
    if summary.accounts:
        query = query.join(XAccount, XAccount.id == StoredPost.account_id).where(
            func.lower(XAccount.username).in_([name.lower() for name in summary.accounts])
        )
    posts: dict[str, StoredPost] = {}
    for post in (
        await session.scalars(query.order_by(StoredPost.sort_key.desc(), StoredPost.id.desc()))
    ).all():
        posts.setdefault(post.external_id, post)  # one per id, should two sources hold the same
    return list(posts.values())


async def latest_for_job(session: AsyncSession, *, owner_id: int, job_id: int) -> Summary | None:
    """The newest summary of the owner's job, if any."""
    return (
        await session.execute(
            select(Summary)
            .where(Summary.job_id == job_id, Summary.user_id == owner_id)
            .order_by(Summary.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


SUMMARIES_DEFAULT_LIMIT = 50
SUMMARIES_MAX_LIMIT = 200


@dataclass(frozen=True, slots=True)
class SummaryFilters:
    """Which of the owner's summaries: one job's, playground or job runs only, created at/after ``since``."""

    job_id: int | None = None
    playground: bool | None = None
    since: datetime | None = None


@dataclass(frozen=True, slots=True)
class SummaryPage:
    items: list[Summary]
    next_before: int | None


async def list_for_owner(
    session: AsyncSession,
    *,
    owner_id: int,
    filters: SummaryFilters = SummaryFilters(),  # frozen: a shared default is safe
    before: int | None = None,
    limit: int = SUMMARIES_DEFAULT_LIMIT,
) -> SummaryPage:
    """The owner's summaries, newest first, keyset-paginated on id (``before``), on the
    (user_id, id) index."""
    limit = max(1, min(limit, SUMMARIES_MAX_LIMIT))
    query = select(Summary).where(Summary.user_id == owner_id)
    if filters.job_id is not None:
        query = query.where(Summary.job_id == filters.job_id)
    if filters.playground is not None:
        query = query.where(Summary.is_playground.is_(filters.playground))
    if filters.since is not None:
        query = query.where(Summary.created_at >= filters.since)
    if before is not None:
        query = query.where(Summary.id < before)
    rows = list((await session.scalars(query.order_by(Summary.id.desc()).limit(limit + 1))).all())
    items = rows[:limit]
    return SummaryPage(items=items, next_before=items[-1].id if len(rows) > limit else None)
