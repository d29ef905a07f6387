"""Reading the stored posts of an account: ``posts_after`` and the caller's read of its new posts
(``PostsWanted`` -> ``NewPosts``), as ``sources.base.Post`` values."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from xtrack.db import typed_param
from xtrack.posts.models import StoredPost
from xtrack.sources.base import Post

# Reads and self-fencing statements run on a session or, outside a transaction, a connection.
Connection = AsyncSession | AsyncConnection

# The hot path's table, for Core statements (no ORM unit of work: see bench/RESULTS.md).
_POSTS = cast(Table, StoredPost.__table__)


@dataclass(frozen=True, slots=True)
class PostsWanted:
    """The caller's read of the account's stored posts (``new_posts``): newer than
    ``after_post_id`` (exclusive) and created at or after ``since``. ``refresh_account`` does it in
    its last transaction when it can, sparing the caller a transaction of its own."""

    after_post_id: str | None
    since: datetime | None


@dataclass(frozen=True, slots=True)
class NewPosts:
    posts: list[Post]  # oldest first
    cursor_created_at: datetime | None  # when the ``after_post_id`` post was published (if stored)


_POST_CREATED_AT = select(_POSTS.c.created_at).where(
    _POSTS.c.account_id == bindparam("account_id"), _POSTS.c.external_id == bindparam("external_id")
)


async def new_posts(session: Connection, *, account_id: int, wanted: PostsWanted) -> NewPosts:
    """The read ``wanted`` describes, in ``session``."""
    posts = await posts_after(
        session, account_id=account_id, after_post_id=wanted.after_post_id, since=wanted.since
    )
    cursor_created_at: datetime | None = None
    if wanted.after_post_id is not None:
        cursor_created_at = await session.scalar(
            _POST_CREATED_AT, {"account_id": account_id, "external_id": wanted.after_post_id}
        )
    return NewPosts(posts, cursor_created_at)


async def posts_after(
    session: Connection,
    *,
    account_id: int,
    after_post_id: str | None,
    since: datetime | None,
    limit: int | None = None,
) -> list[Post]:
    """Stored posts of the account newer than ``after_post_id`` (exclusive) and created at or after
    ``since``, oldest first."""
    statement = _posts_statement(
        after=after_post_id is not None, since=since is not None, limited=limit is not None
    )
    values: dict[str, Any] = {"account_id": account_id}
    if after_post_id is not None:
        values["after"] = int(after_post_id)
    if since is not None:
        values["since"] = since
    if limit is not None:
        values["limit"] = limit
    return [_post(row) for row in await session.execute(statement, values)]


@functools.cache
def _posts_statement(*, after: bool, since: bool, limited: bool) -> Select[Any]:
    """``posts_after``'s query for one combination of filters, built once with bind parameters."""
    posts = _POSTS.c
    query = select(*(posts[name] for name in _POST_FIELDS)).where(posts.account_id == bindparam("account_id"))
    if after:
        query = query.where(posts.sort_key > bindparam("after"))
    if since:
        query = query.where(posts.created_at >= typed_param("since", posts.created_at))
    query = query.order_by(posts.sort_key)
    return query.limit(bindparam("limit")) if limited else query


_POST_FIELDS = (
    "external_id",
    "author_username",
    "text",
    "created_at",
    "url",
    "metrics",
    "is_repost",
    "is_reply",
    "is_quote",
    "raw",
    "original_author",
    "quoted_author",
    "quoted_text",
)


def _post(row: Any) -> Post:
    return Post(
        external_id=row.external_id,
        author_username=row.author_username,
        text=row.text,
        created_at=row.created_at,
        url=row.url,
        metrics=dict(row.metrics or {}),
        is_repost=row.is_repost,
        is_reply=row.is_reply,
        is_quote=row.is_quote,
        raw=row.raw,
        original_author=row.original_author,
        quoted_author=row.quoted_author,
        quoted_text=row.quoted_text,
    )
