"""Helpers shared by the posts store's tests: the lease they run with and reads of the stored rows."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from xtrack.posts.models import StoredPost, XAccount

LEASE_SECONDS = 60.0  # the default ``settings.lease_seconds``


async def stored_count(session: AsyncSession, account_id: int) -> int:
    return int(await session.scalar(select(func.count()).where(StoredPost.account_id == account_id)) or 0)


async def account_row(session: AsyncSession, account_id: int) -> XAccount:
    row = await session.get(XAccount, account_id, populate_existing=True)
    assert row is not None
    return row
