"""The shared posts store: one row per followed account and source, posts stored once, and
``refresh_account`` — the only way the engine and the playground reach a source.

How a refresh shares work (DESIGN "Cost grows with accounts, not with jobs"):

* The account's fetch lease (``x_accounts.fetch_started_at``) is claimed by a conditional UPDATE in
  a short transaction; the claimer calls the source with no transaction open (invariant 7), then
  stores posts, moves the cursor and releases the lease in one short transaction.
* A caller that finds the lease held by a fetch that began at or after its ``requested_at`` joins
  it: it waits for the lease to clear and reads the stored posts. A fetch that began earlier may
  have missed what the caller needs, so the caller waits for it and then makes its own ``since_id``
  call (free when nothing is new).
* Callers in the same process also share one in-flight refresh per account, so fifty runs of one
  account poll the database once, not fifty times.
* ``source_limits`` is read before every call: a source rate limited until T gets no request
  before T from any process."""

from __future__ import annotations

import asyncio
import functools
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Select, Table, bindparam, case, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from xtrack.config import get_settings
from xtrack.db import Database, typed_param, utcnow
from xtrack.observability import get_logger
from xtrack.sources.base import (
    AccountInfo,
    AccountNotFound,
    AccountUnavailable,
    FetchResult,
    Post,
    Source,
    SourceError,
    SourceRateLimited,
    TransientSourceError,
)
from xtrack.sources.coverage import (
    Coverage,
    FetchPlan,
    LeaseAction,
    decide_lease,
    fresh_enough,
    merge_coverage,
    plan_fetch,
)
from xtrack.sources.models import AccountState, SourceLimit, XAccount
from xtrack.sources.models import Post as PostRow

logger = get_logger(__name__)

# Reads and self-fencing statements run on a session or, outside a transaction, a connection.
Connection = AsyncSession | AsyncConnection

Clock = Callable[[], datetime]

_USERNAME = re.compile(r"[a-z0-9_]{1,15}")
# Waiting on another fetch: poll the lease this often (growing), never longer than this in total.
POLL_FIRST_SECONDS = 0.02
POLL_MAX_SECONDS = 0.5


def normalize_username(value: str) -> str:
    """``@Alice`` -> ``alice``; X handles are 1-15 letters, digits or underscores, case-insensitive."""
    name = value.strip().removeprefix("@").lower()
    if not _USERNAME.fullmatch(name):
        raise ValueError(f"'{value}' is not an X username (1-15 letters, digits or underscores)")
    return name


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


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """The account's stored state after a refresh.

    ``gap``: the stored posts do not reach back to the ``need_since`` asked for (the source could
    not go that far back). ``requests_made``/``posts_stored``: this call's own upstream requests and
    newly stored posts (0 when it joined another fetch or the stored posts already answered it).
    ``covered_until``: every post up to this moment is stored (a fetch began then).
    ``new_posts``: the ``PostsWanted`` read, when it was done in the refresh's own transaction
    (None: the caller reads them itself, e.g. after joining another caller's fetch)."""

    account_id: int
    username: str
    external_id: str | None
    newest_post_id: str | None
    covered_since: datetime | None
    gap: bool
    requests_made: int
    posts_stored: int
    covered_until: datetime | None = None
    display_name: str | None = None
    new_posts: NewPosts | None = None

    @property
    def fetched_at(self) -> datetime | None:
        """When the fetch the stored posts come from began (an alias of ``covered_until``)."""
        return self.covered_until


async def get_account(session: AsyncSession, *, source: str, username: str) -> XAccount | None:
    """The stored account of ``source`` with this username (any case, with or without @)."""
    try:
        name = normalize_username(username)
    except ValueError:
        return None
    return cast(
        XAccount | None,
        await session.scalar(select(XAccount).where(XAccount.source == source, XAccount.username == name)),
    )


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
    )


async def refresh_account(
    database: Database,
    source: Source,
    *,
    username: str,
    need_since: datetime,
    requested_at: datetime,
    now: Clock = utcnow,
    lease_seconds: float | None = None,
    wanted: PostsWanted | None = None,
) -> AccountSnapshot:
    """Make the stored posts of ``username`` complete from ``need_since`` up to a moment no earlier
    than ``requested_at``, fetching only what is missing, and return the account's state (with the
    ``wanted`` posts when they could be read in the same transaction: ``new_posts``).

    Raises the SourceError of the fetch (or of the fetch it joined): AccountNotFound /
    AccountUnavailable (the account's state is updated), SourceRateLimited (also when the source is
    known to be limited: no request is made), BadCredentials, TransientSourceError,
    MalformedResponse, RequestRejected. ``lease_seconds`` defaults to ``settings.lease_seconds``."""
    try:
        name = normalize_username(username)
    except ValueError as exc:
        raise AccountNotFound(str(exc)) from None
    lease = lease_seconds if lease_seconds is not None else get_settings().lease_seconds
    key = (database, source.name, name)
    running = _flights.get(key)
    if running is not None:
        # Another refresh of this account is in flight in this process: let it do the work.
        await running.done.wait()
        if running.error is not None and running.started_at >= requested_at:
            raise _clone(running.error)
        shared = running.snapshot
        if shared is not None and fresh_enough(
            Coverage(shared.newest_post_id, shared.covered_since, shared.covered_until),
            requested_at=requested_at,
            need_since=need_since,
        ):
            # Its stored state answers this need too: no database round trip (the caller reads
            # its posts itself).
            return replace(shared, gap=False, requests_made=0, posts_stored=0, new_posts=None)
        return await _refresh(database, source, name, need_since, requested_at, now, lease, wanted)
    flight = _Flight(started_at=now())
    _flights[key] = flight
    try:
        flight.snapshot = await _refresh(database, source, name, need_since, requested_at, now, lease, wanted)
        return flight.snapshot
    except SourceError as exc:
        flight.error = exc
        raise
    finally:
        if _flights.get(key) is flight:
            del _flights[key]
        flight.done.set()


@dataclass(slots=True)
class _Flight:
    started_at: datetime
    done: asyncio.Event = field(default_factory=asyncio.Event)
    error: SourceError | None = None
    snapshot: AccountSnapshot | None = None


_flights: dict[tuple[Database, str, str], _Flight] = {}
# Errors of recent fetches in this process, so callers that joined one fail the same way.
_failures: OrderedDict[tuple[Database, str, int, datetime], SourceError] = OrderedDict()
_FAILURES_KEPT = 256


def _clone(error: SourceError) -> SourceError:
    """A fresh instance of ``error`` (one exception object is not raised by many tasks at once)."""
    copy = error.__class__.__new__(error.__class__)
    copy.args = error.args
    copy.__dict__.update(error.__dict__)
    return copy


@dataclass(frozen=True, slots=True)
class _AccountRow:
    id: int
    username: str
    external_id: str | None
    display_name: str | None
    state: str
    etag: str | None
    last_modified: str | None
    fetch_started_at: datetime | None
    coverage: Coverage

    @classmethod
    def of(cls, account: Any) -> _AccountRow:
        """From a row of ``_ACCOUNT_COLUMNS``."""
        return cls(
            id=account.id,
            username=account.username,
            external_id=account.external_id,
            display_name=account.display_name,
            state=account.state,
            etag=account.etag,
            last_modified=account.last_modified,
            fetch_started_at=account.fetch_started_at,
            coverage=Coverage(account.newest_post_id, account.covered_since, account.last_fetched_at),
        )


def _snapshot(
    account: _AccountRow,
    *,
    need_since: datetime,
    requests: int,
    stored: int,
    new_posts: NewPosts | None = None,
) -> AccountSnapshot:
    since = account.coverage.covered_since
    return AccountSnapshot(
        account_id=account.id,
        username=account.username,
        external_id=account.external_id,
        newest_post_id=account.coverage.newest_post_id,
        covered_since=since,
        gap=since is None or since > need_since,
        requests_made=requests,
        posts_stored=stored,
        covered_until=account.coverage.covered_until,
        display_name=account.display_name,
        new_posts=new_posts,
    )


def _insert(database: Database, table: Any) -> Any:
    dialect = postgresql if database.dialect == "postgresql" else sqlite
    return dialect.insert(table)


# The hot path's tables, for Core statements (no ORM unit of work: see bench/RESULTS.md).
_ACCOUNTS = cast(Table, XAccount.__table__)
_LIMITS = cast(Table, SourceLimit.__table__)
_POSTS = cast(Table, PostRow.__table__)
_ACCOUNT_COLUMNS = [
    _ACCOUNTS.c[name]
    for name in (
        "id",
        "username",
        "external_id",
        "display_name",
        "state",
        "etag",
        "last_modified",
        "fetch_started_at",
        "newest_post_id",
        "covered_since",
        "last_fetched_at",
    )
]
# The account (by source and username) and the source's rate-limit reset, in one statement.
_READ_ACCOUNT = select(
    *_ACCOUNT_COLUMNS,
    select(_LIMITS.c.rate_limited_until)
    .where(_LIMITS.c.source == _ACCOUNTS.c.source)
    .scalar_subquery()
    .label("limited_until"),
).where(_ACCOUNTS.c.source == bindparam("source"), _ACCOUNTS.c.username == bindparam("username"))


_POST_CREATED_AT = select(_POSTS.c.created_at).where(
    _POSTS.c.account_id == bindparam("account_id"), _POSTS.c.external_id == bindparam("external_id")
)
_INSERT_POSTS = {
    name: dialect.insert(_POSTS)
    .on_conflict_do_nothing(index_elements=["account_id", "external_id"])
    .returning(_POSTS.c.id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


def _take_lease(*, first_fetch: bool) -> Any:
    """Take the fetch lease if it is free (or stale) and nothing was stored since we looked."""
    columns = _ACCOUNTS.c
    lease_at = typed_param("lease_at", columns.fetch_started_at)
    unchanged = (
        columns.last_fetched_at.is_(None)
        if first_fetch
        else columns.last_fetched_at == typed_param("seen_until", columns.last_fetched_at)
    )
    return (
        update(_ACCOUNTS)
        .where(
            columns.id == bindparam("account_id"),
            or_(
                columns.fetch_started_at.is_(None),
                columns.fetch_started_at < typed_param("stale_before", columns.fetch_started_at),
            ),
            unchanged,
        )
        .values(fetch_started_at=lease_at)
    )


_TAKE_LEASE_FIRST = _take_lease(first_fetch=True)
_TAKE_LEASE = _take_lease(first_fetch=False)
# What a fetch writes to the account row (bound as new_<column>).
_STORE_ACCOUNT = (
    update(_ACCOUNTS)
    .where(_ACCOUNTS.c.id == bindparam("account_id"))
    .values(
        {
            name: typed_param(f"new_{name}", _ACCOUNTS.c[name])
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


async def _read(
    session: Connection, database: Database, source: Source, username: str, need_since: datetime
) -> tuple[_AccountRow, datetime | None, bool]:
    """The account row (created on first use), the source's rate-limit reset, and whether a
    backfill could reach further."""
    key = {"source": source.name, "username": username}
    found = (await session.execute(_READ_ACCOUNT, key)).first()
    if found is None:
        # First use of this account: create its row (a concurrent creator's row is as good).
        await session.execute(
            _insert(database, XAccount)
            .values(source=source.name, username=username, state=AccountState.OK.value, created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["source", "username"])
        )
        found = (await session.execute(_READ_ACCOUNT, key)).one()
    row = _AccountRow.of(found)
    limited_until: datetime | None = found.limited_until
    reachable = True
    depth = getattr(source, "timeline_depth", None)
    since = row.coverage.covered_since
    if depth is not None and since is not None and since > need_since:
        # The source reaches only its `depth` most recent posts: if that many are stored from
        # covered_since on, nothing older is within reach and a backfill would re-read them all.
        stored = await session.scalar(
            select(func.count())
            .select_from(_POSTS)
            .where(_POSTS.c.account_id == row.id, _POSTS.c.created_at >= since)
        )
        reachable = int(stored or 0) < depth
    return row, limited_until, reachable


async def _claim(
    session: Connection, account_id: int, *, now: datetime, lease_seconds: float, seen: Coverage
) -> bool:
    """Take the lease if it is free (or stale) and nothing was stored since we looked."""
    values: dict[str, Any] = {
        "account_id": account_id,
        "stale_before": now - timedelta(seconds=lease_seconds),
        "lease_at": now,
    }
    if seen.covered_until is None:
        statement = _TAKE_LEASE_FIRST
    else:
        statement = _TAKE_LEASE
        values["seen_until"] = seen.covered_until
    result = await session.execute(statement, values)
    return cast(CursorResult[Any], result).rowcount == 1


async def _refresh(
    database: Database,
    source: Source,
    username: str,
    need_since: datetime,
    requested_at: datetime,
    now: Clock,
    lease_seconds: float,
    wanted: PostsWanted | None = None,
) -> AccountSnapshot:
    joined: datetime | None = None
    poll = POLL_FIRST_SECONDS
    give_up_at = time.monotonic() + 2 * lease_seconds + 5
    while True:
        claimed = False
        found: NewPosts | None = None
        # Look, decide, and take the lease when it is ours to take. Autocommit: the UPDATE that takes
        # the lease re-checks what the read saw (lease free, nothing stored since), so no
        # transaction is needed around them (and none of its round trips).
        async with database.autocommit() as session:
            row, limited_until, reachable = await _read(session, database, source, username, need_since)
            current = now()
            action = decide_lease(
                row.coverage,
                fetch_started_at=row.fetch_started_at,
                now=current,
                lease_seconds=lease_seconds,
                requested_at=requested_at,
                need_since=need_since,
                joined=joined,
                backfill_reachable=reachable,
            )
            limited = limited_until is not None and limited_until > current
            if action is LeaseAction.CLAIM and not limited:
                claimed = await _claim(
                    session, row.id, now=current, lease_seconds=lease_seconds, seen=row.coverage
                )
            if action is LeaseAction.USE_STORED and wanted is not None:
                found = await new_posts(session, account_id=row.id, wanted=wanted)
        if action is LeaseAction.USE_STORED:
            return _snapshot(row, need_since=need_since, requests=0, stored=0, new_posts=found)
        if limited and action in (LeaseAction.CLAIM, LeaseAction.JOINED_FAILED):
            assert limited_until is not None
            raise SourceRateLimited(
                f"{source.name} is rate limited until {limited_until.isoformat()}", reset_at=limited_until
            )
        if action is LeaseAction.JOINED_FAILED:
            assert joined is not None
            raise _joined_failure(database, source.name, row, joined)
        if claimed:
            return await _fetch_and_store(
                database,
                source,
                row,
                lease_at=current,
                need_since=need_since,
                reachable=reachable,
                now=now,
                wanted=wanted,
            )
        if action is LeaseAction.CLAIM:
            continue  # someone else got it first: look again
        if action is LeaseAction.JOIN:
            joined = row.fetch_started_at
        if time.monotonic() > give_up_at:
            raise TransientSourceError(f"gave up waiting for another fetch of @{username}")
        await asyncio.sleep(poll)
        poll = min(poll * 1.5, POLL_MAX_SECONDS)


def _joined_failure(database: Database, source_name: str, row: _AccountRow, joined: datetime) -> SourceError:
    known = _failures.get((database, source_name, row.id, joined))
    if known is not None:
        return _clone(known)
    if row.state == AccountState.NOT_FOUND:
        return AccountNotFound(f"@{row.username} does not exist on {source_name}")
    if row.state in (AccountState.PROTECTED, AccountState.SUSPENDED):
        return AccountUnavailable(f"@{row.username} is {row.state}", state=row.state)
    return TransientSourceError(f"a concurrent fetch of @{row.username} failed; try again")


async def _quietly(action: Awaitable[None]) -> None:
    """Best-effort cleanup that survives a cancelled caller; a lease left behind expires anyway."""
    try:
        await asyncio.shield(action)
    except Exception:
        logger.exception("source.lease_release_failed")


async def _fetch_and_store(
    database: Database,
    source: Source,
    row: _AccountRow,
    *,
    lease_at: datetime,
    need_since: datetime,
    reachable: bool,
    now: Clock,
    wanted: PostsWanted | None = None,
) -> AccountSnapshot:
    plan = plan_fetch(row.coverage, need_since=need_since, backfill_reachable=reachable)
    started = time.monotonic()
    requests = 0
    info: AccountInfo | None = None
    try:
        if row.external_id is None or row.state != AccountState.OK:
            info = await source.resolve(row.username)
            requests += 1
        else:
            info = AccountInfo(row.username, row.external_id, row.display_name)
        result = await source.fetch(
            info,
            since_id=plan.since_id,
            start_time=plan.start_time,
            etag=row.etag if plan.conditional else None,
            last_modified=row.last_modified if plan.conditional else None,
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
        await _quietly(_release(database, row.id, lease_at))
        raise
    requests += result.requests
    try:
        stored, account, found = await _store(
            database, source.name, row, plan, result, info=info, lease_at=lease_at, now=now(), wanted=wanted
        )
    except BaseException:
        await _quietly(_release(database, row.id, lease_at))
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
    return _snapshot(account, need_since=need_since, requests=requests, stored=stored, new_posts=found)


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
            "author_username": post.author_username[:15],
            "text": post.text,
            "url": post.url[:300],
            "created_at": post.created_at,
            "metrics": post.metrics,
            "is_repost": post.is_repost,
            "is_reply": post.is_reply,
            "is_quote": post.is_quote,
            "raw": post.raw,
            "fetched_at": now,
        }
        for post in unique.values()
    ]
    # A Core insert (not the ORM's bulk path): executemany batched into multi-row VALUES with
    # RETURNING, which yields only the rows that were new.
    result = await session.execute(_INSERT_POSTS[database.dialect], rows)
    return len(result.all())


_LOCK_ACCOUNT = select(*_ACCOUNT_COLUMNS).where(_ACCOUNTS.c.id == bindparam("account_id")).with_for_update()


async def _store(
    database: Database,
    source_name: str,
    row: _AccountRow,
    plan: FetchPlan,
    result: FetchResult,
    *,
    info: AccountInfo,
    lease_at: datetime,
    now: datetime,
    wanted: PostsWanted | None = None,
) -> tuple[int, _AccountRow, NewPosts | None]:
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
        else:
            logger.warning("source.lease_lost", source=source_name, account_id=row.id, username=row.username)
        await session.execute(
            _STORE_ACCOUNT, {"account_id": row.id, **{f"new_{k}": v for k, v in changes.items()}}
        )
        await _record_limits(
            session,
            database,
            source_name,
            remaining=result.rate_limit_remaining,
            limited_until=(
                result.rate_limit_reset_at
                if result.rate_limit_remaining == 0
                and result.rate_limit_reset_at is not None
                and result.rate_limit_reset_at > now
                else None
            ),
            now=now,
        )
        found = await new_posts(session, account_id=row.id, wanted=wanted) if wanted is not None else None
        return (
            stored,
            _AccountRow(
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


# The remaining budget is informational and every fetch reports it; one row per source is hot, so a
# process refreshes it at most this often. A limit (remaining 0 / a 429) is always written at once.
REMAINING_WRITE_INTERVAL_SECONDS = 1.0
_remaining_written: dict[tuple[Database, str], float] = {}


async def _record_limits(
    session: AsyncSession,
    database: Database,
    source_name: str,
    *,
    remaining: int | None,
    limited_until: datetime | None,
    now: datetime,
) -> None:
    """Share what the source said about its budget with every process (``source_limits``)."""
    key = (database, source_name)
    if limited_until is None:
        last = _remaining_written.get(key)
        if remaining is None or (
            last is not None and time.monotonic() - last < REMAINING_WRITE_INTERVAL_SECONDS
        ):
            return
    # Take the slot before writing: the fetches finishing meanwhile (hundreds, under load) must not
    # all pass the check above and queue on this one row's lock inside their transactions.
    _remaining_written[key] = time.monotonic()
    values: dict[str, Any] = {"updated_at": now}
    if remaining is not None:
        values["remaining"] = remaining
    if limited_until is not None:
        column = SourceLimit.rate_limited_until
        # Never shorten a limit another process recorded.
        values["rate_limited_until"] = case(
            (or_(column.is_(None), column < limited_until), limited_until), else_=column
        )
    statement = (
        update(SourceLimit)
        .where(SourceLimit.source == source_name)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], await session.execute(statement)).rowcount == 0:
        await session.execute(
            _insert(database, SourceLimit)
            .values(source=source_name, updated_at=now)
            .on_conflict_do_nothing(index_elements=["source"])
        )
        await session.execute(statement)


async def _record_failure(
    database: Database,
    source_name: str,
    account_id: int,
    lease_at: datetime,
    error: SourceError,
    info: AccountInfo | None,
    now: datetime,
) -> None:
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
        if isinstance(error, SourceRateLimited):
            await _record_limits(
                session, database, source_name, remaining=0, limited_until=error.reset_at, now=now
            )


async def _release(database: Database, account_id: int, lease_at: datetime) -> None:
    async with database.session() as session:
        await session.execute(
            update(XAccount)
            .where(XAccount.id == account_id, XAccount.fetch_started_at == lease_at)
            .values(fetch_started_at=None)
            .execution_options(synchronize_session=False)
        )
