"""One fetch by the holder of an account's lease: call the source with no transaction open
(invariant 7), then store the new posts, move the account's coverage, record the source's limits
and release the lease in one short transaction. A failed fetch records the account's state and
its error, so callers that joined it fail the same way."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from xtrack.db import Database, connection_lost, typed_param
from xtrack.observability import get_logger
from xtrack.posts.accounts import ACCOUNT_COLUMNS, ACCOUNTS, AccountRow, AccountSnapshot, snapshot
from xtrack.posts.coverage import Coverage, FetchPlan, merge_coverage, plan_fetch
from xtrack.posts.lease import release_lease
from xtrack.posts.limits import pause_source, record_limits, reported_limit
from xtrack.posts.models import AccountState, StoredPost, XAccount
from xtrack.posts.store import NewPosts, PostsWanted, new_posts
from xtrack.sources.base import (
    AccountInfo,
    AccountNotFound,
    AccountUnavailable,
    FetchResult,
    Post,
    QuotaExhausted,
    Source,
    SourceError,
    SourceRateLimited,
)
from xtrack.sources.handles import MAX_ACCOUNT_LENGTH
from xtrack.sources.http import PRIMARY_BUCKET

logger = get_logger(__name__)

Clock = Callable[[], datetime]

# Errors of recent fetches in this process, so callers that joined one fail the same way.
_failures: OrderedDict[tuple[Database, str, int, datetime], SourceError] = OrderedDict()
_FAILURES_KEPT = 256


def clone_error(error: SourceError) -> SourceError:
    """A fresh instance of ``error`` (one exception object is not raised by many tasks at once)."""
    copy = error.__class__.__new__(error.__class__)
    copy.args = error.args
    copy.__dict__.update(error.__dict__)
    return copy


def recent_failure(
    database: Database, source_name: str, account_id: int, lease_at: datetime
) -> SourceError | None:
    """The error of this process's fetch of the account that took the lease at ``lease_at``."""
    known = _failures.get((database, source_name, account_id, lease_at))
    return clone_error(known) if known is not None else None


async def _quietly(action: Awaitable[None]) -> None:
    """Best-effort cleanup that survives a cancelled caller; a lease left behind expires anyway."""
    try:
        await asyncio.shield(action)
    except Exception:
        logger.exception("source.lease_release_failed")


async def fetch_and_store(
    database: Database,
    source: Source,
    row: AccountRow,
    *,
    lease_at: datetime,
    need_since: datetime,
    reachable: bool,
    now: Clock,
    wanted: PostsWanted | None = None,
) -> AccountSnapshot:
    """Fetch what the stored posts miss and store it; the caller holds the lease taken at
    ``lease_at``, and this releases it whatever happens."""
    plan = plan_fetch(row.coverage, need_since=need_since, backfill_reachable=reachable)
    started = time.monotonic()
    requests = lookups = 0
    info: AccountInfo | None = None
    try:
        info, result, lookups = await _resolve_and_fetch(source, row, plan)
        requests += lookups
        if plan.backfill_until is not None:
            older = await source.fetch(
                info, since_id=None, start_time=plan.start_time, end_time=plan.backfill_until
            )
            result = combine_results(
                result, older, beyond_depth=await _beyond_depth(database, source, row, result, older)
            )
    except SourceError as exc:
        _failures[(database, source.name, row.id, lease_at)] = exc
        while len(_failures) > _FAILURES_KEPT:
            _failures.popitem(last=False)
        logger.warning(
            "source.fetch_failed",
            source=source.name,
            account_id=row.id,
            username=row.username,
            error_kind=exc.kind,
            error=exc.message,
        )
        await _quietly(_record_failure(database, source.name, row.id, lease_at, exc, info, now()))
        raise
    except BaseException:
        await _quietly(release_lease(database, row.id, lease_at))
        raise
    requests += result.requests
    try:
        stored, account, found = await _store_surely(
            database, source.name, row, plan, result, info=info, lease_at=lease_at, now=now, wanted=wanted
        )
    except BaseException:
        await _quietly(release_lease(database, row.id, lease_at))
        raise
    logger.info(
        "source.fetched",
        source=source.name,
        account_id=row.id,
        username=row.username,
        since_id=plan.since_id,
        backfill=plan.backfill,
        requests=requests,
        posts_read=len(result.posts),
        posts_stored=stored,
        gap=result.gap,
        not_modified=result.not_modified,
        duration_ms=round((time.monotonic() - started) * 1000),
    )
    return snapshot(
        account,
        need_since=need_since,
        requests=requests,
        stored=stored,
        new_posts=found,
        posts_read=result.posts_read or len(result.posts),
        lookups=lookups,
        gap_note=result.gap_note,
    )


async def _resolve_and_fetch(
    source: Source, row: AccountRow, plan: FetchPlan
) -> tuple[AccountInfo, FetchResult, int]:
    """The account's identity, its posts, and how many lookups that took. The identity is looked up
    once and kept on the row (again only when its state says something changed). A source whose
    fetch needs only the username (``fetches_by_username``: twitterapi.io's search) looks the
    account up beside the fetch rather than in front of it: a new account costs one more request,
    not one more round trip of the run's time (a burst of new accounts took 3 s a run instead of 2)."""
    options: dict[str, Any] = {
        "since_id": plan.since_id,
        "start_time": plan.start_time,
        "etag": row.etag if plan.conditional else None,
        "last_modified": row.last_modified if plan.conditional else None,
    }
    if row.external_id is not None and row.state == AccountState.OK:
        info = AccountInfo(row.username, row.external_id, row.display_name)
        return info, await source.fetch(info, **options), 0
    if not getattr(source, "fetches_by_username", False):
        info = await source.resolve(row.username)
        return info, await source.fetch(info, **options), 1
    lookup = asyncio.ensure_future(source.resolve(row.username))
    try:
        result = await source.fetch(AccountInfo(row.username, "", row.display_name), **options)
        return await lookup, result, 1
    finally:
        if not lookup.done():
            lookup.cancel()  # the fetch failed first: its error is the run's
        elif not lookup.cancelled():
            lookup.exception()  # retrieved: an error of a lookup nobody awaited is not logged as lost


async def _beyond_depth(
    database: Database, source: Source, row: AccountRow, newer: FetchResult, older: FetchResult
) -> bool:
    """Whether a bounded backfill may have reached past the source's timeline depth: the source
    answers a bounded call from its ``depth`` most recent posts without saying it cut the window, so
    count what sits above the window (stored since it, plus the new posts) and what came back."""
    depth = getattr(source, "timeline_depth", None)
    since = row.coverage.covered_since
    if depth is None or since is None:
        return False
    async with database.session() as session:
        stored = await session.scalar(
            select(func.count())
            .select_from(_POSTS)
            .where(_POSTS.c.account_id == row.id, _POSTS.c.created_at >= since)
        )
    return int(stored or 0) + len(newer.posts) + len(older.posts) >= int(depth)


def combine_results(newer: FetchResult, older: FetchResult, *, beyond_depth: bool = False) -> FetchResult:
    """The ``since_id`` call and the bounded backfill of one plan as one result (the newer call's
    validators and limits, the older call's limits when it reported them, being the later answer).
    ``beyond_depth``: the backfill may have been cut by the source's depth, so it is a gap."""
    return FetchResult(
        posts=newer.posts + older.posts,
        gap=newer.gap or older.gap or beyond_depth,
        requests=newer.requests + older.requests,
        posts_read=(newer.posts_read or len(newer.posts)) + (older.posts_read or len(older.posts)),
        gap_note=newer.gap_note or older.gap_note,
        etag=newer.etag,
        last_modified=newer.last_modified,
        not_modified=False,
        rate_limit_remaining=(
            older.rate_limit_remaining
            if older.rate_limit_remaining is not None
            else newer.rate_limit_remaining
        ),
        rate_limit_reset_at=older.rate_limit_reset_at or newer.rate_limit_reset_at,
    )


_POSTS = cast(Table, StoredPost.__table__)
_INSERT_POSTS = {
    name: dialect.insert(_POSTS)
    .on_conflict_do_nothing(index_elements=["account_id", "external_id"])
    .returning(_POSTS.c.id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


async def _insert_posts(
    session: AsyncSession, database: Database, account_id: int, posts: Sequence[Post], now: datetime
) -> int:
    """INSERT … ON CONFLICT DO NOTHING; returns how many posts were new."""
    unique = {post.external_id: post for post in posts}
    if not unique:
        return 0
    rows = [
        {
            "account_id": account_id,
            "external_id": post.external_id,
            "sort_key": post.sort_key,
            "author_username": post.author_username[:MAX_ACCOUNT_LENGTH],
            "text": post.text,
            "url": post.url[:300],
            "created_at": post.created_at,
            "metrics": post.metrics,
            "is_repost": post.is_repost,
            "is_reply": post.is_reply,
            "is_quote": post.is_quote,
            "original_author": post.original_author[:MAX_ACCOUNT_LENGTH] if post.original_author else None,
            "quoted_author": post.quoted_author[:MAX_ACCOUNT_LENGTH] if post.quoted_author else None,
            "quoted_text": post.quoted_text,
            "raw": post.raw,
            "fetched_at": now,
        }
        for post in unique.values()
    ]
    # A Core insert (not the ORM's bulk path): executemany batched into multi-row VALUES with
    # RETURNING, which yields only the rows that were new.
    result = await session.execute(_INSERT_POSTS[database.dialect], rows)
    replaced = {old for post in unique.values() for old in post.replaces} - unique.keys()
    if replaced:
        # An edited post is one post: its earlier versions, stored by earlier fetches, go.
        await session.execute(
            delete(_POSTS).where(_POSTS.c.account_id == account_id, _POSTS.c.external_id.in_(replaced))
        )
    return len(result.all())


_LOCK_ACCOUNT = select(*ACCOUNT_COLUMNS).where(ACCOUNTS.c.id == bindparam("account_id")).with_for_update()
# What a fetch writes to the account row (bound as new_<column>).
_STORE_ACCOUNT = (
    update(ACCOUNTS)
    .where(ACCOUNTS.c.id == bindparam("account_id"))
    .values(
        {
            name: typed_param(f"new_{name}", ACCOUNTS.c[name])
            for name in (
                "newest_post_id",
                "covered_since",
                "last_fetched_at",
                "external_id",
                "display_name",
                "state",
                "etag",
                "last_modified",
                "fetch_started_at",
            )
        }
    )
)


def _account_changes(
    account: Any, merged: Coverage, result: FetchResult, *, info: AccountInfo, lease_at: datetime
) -> dict[str, Any]:
    """The account row after a successful fetch: ``account`` is the row locked now."""
    changes: dict[str, Any] = {
        "newest_post_id": merged.newest_post_id,
        "covered_since": merged.covered_since,
        "last_fetched_at": merged.covered_until,
        "external_id": info.external_id,
        "display_name": info.display_name[:100] if info.display_name else account.display_name,
        "state": AccountState.OK.value,
        "etag": account.etag,
        "last_modified": account.last_modified,
        "fetch_started_at": account.fetch_started_at,
    }
    if not result.not_modified:
        etag_fits = result.etag is None or len(result.etag) <= 255
        modified_fits = result.last_modified is None or len(result.last_modified) <= 64
        changes["etag"] = result.etag if etag_fits else None
        changes["last_modified"] = result.last_modified if modified_fits else None
    if account.fetch_started_at == lease_at:
        changes["fetch_started_at"] = None
    return changes


# Waits before storing a fetch again when the database connection was lost meanwhile (a restart).
STORE_RETRY_SECONDS = (0.5, 1.0, 2.0, 4.0)


async def _store_surely(
    database: Database,
    source_name: str,
    row: AccountRow,
    plan: FetchPlan,
    result: FetchResult,
    *,
    info: AccountInfo,
    lease_at: datetime,
    now: Clock,
    wanted: PostsWanted | None = None,
) -> tuple[int, AccountRow, NewPosts | None]:
    """``_store``, again on a new connection while the connection is lost: the posts were read
    (and paid for); dropping them would make the next fetch read them again (the soak's database
    restarts did). Storing twice is harmless: posts are inserted ON CONFLICT DO NOTHING and the
    coverage merge is fenced on what the account row holds."""
    for wait in (*STORE_RETRY_SECONDS, None):
        try:
            return await _store(
                database,
                source_name,
                row,
                plan,
                result,
                info=info,
                lease_at=lease_at,
                now=now(),
                wanted=wanted,
            )
        except Exception as exc:
            if wait is None or not connection_lost(exc):
                raise
            logger.warning(
                "source.store_retry", source=source_name, account_id=row.id, error=type(exc).__name__
            )
            await asyncio.sleep(wait)
    raise AssertionError("unreachable")


async def _store(
    database: Database,
    source_name: str,
    row: AccountRow,
    plan: FetchPlan,
    result: FetchResult,
    *,
    info: AccountInfo,
    lease_at: datetime,
    now: datetime,
    wanted: PostsWanted | None = None,
) -> tuple[int, AccountRow, NewPosts | None]:
    async with database.session() as session:
        stored = await _insert_posts(session, database, row.id, result.posts, now)
        account = (await session.execute(_LOCK_ACCOUNT, {"account_id": row.id})).one()
        current = Coverage(account.newest_post_id, account.covered_since, account.last_fetched_at)
        merged = merge_coverage(
            current,
            row.coverage,
            plan,
            fetched_at=lease_at,
            newest_fetched=max(result.posts, key=lambda p: p.sort_key).external_id if result.posts else None,
            oldest_fetched_at=min(p.created_at for p in result.posts) if result.posts else None,
            gap=result.gap,
        )
        changes = _account_changes(account, merged, result, info=info, lease_at=lease_at)
        if account.fetch_started_at != lease_at:
            logger.warning("source.lease_lost", source=source_name, account_id=row.id, username=row.username)
        await session.execute(
            _STORE_ACCOUNT, {"account_id": row.id, **{f"new_{k}": v for k, v in changes.items()}}
        )
        await record_limits(
            session,
            database,
            source_name,
            remaining=result.rate_limit_remaining,
            limited_until=reported_limit(result, now=now),
            now=now,
        )
        found = await new_posts(session, account_id=row.id, wanted=wanted) if wanted is not None else None
        return (
            stored,
            AccountRow(
                id=row.id,
                username=account.username,
                external_id=changes["external_id"],
                display_name=changes["display_name"],
                state=changes["state"],
                etag=changes["etag"],
                last_modified=changes["last_modified"],
                fetch_started_at=changes["fetch_started_at"],
                coverage=merged,
            ),
            found,
        )


async def _record_failure(
    database: Database,
    source_name: str,
    account_id: int,
    lease_at: datetime,
    error: SourceError,
    info: AccountInfo | None,
    now: datetime,
) -> None:
    """The account's state after a failed fetch (not found, protected, suspended), its lease
    released, and the source's limit when the failure was a rate limit."""
    async with database.session() as session:
        account = await session.get(XAccount, account_id, with_for_update=True, populate_existing=True)
        if account is None:
            return
        if isinstance(error, AccountUnavailable):
            account.state = (
                error.state
                if error.state in (AccountState.PROTECTED, AccountState.SUSPENDED)
                else "suspended"
            )
        elif isinstance(error, AccountNotFound):
            account.state = AccountState.NOT_FOUND.value
        if info is not None:
            account.external_id = info.external_id
        if account.fetch_started_at == lease_at:
            account.fetch_started_at = None
        if isinstance(error, SourceRateLimited) and error.bucket == PRIMARY_BUCKET:
            # Only the main endpoint's limit is shared: a 429 on X's user lookup leaves timelines be.
            await record_limits(
                session, database, source_name, remaining=0, limited_until=error.reset_at, now=now
            )
        if isinstance(error, QuotaExhausted):
            await pause_source(session, database, source_name, error, now=now)
