"""Followed accounts (``x_accounts``, one row per source and username, shared by every job that
follows it): naming, reading the row (created on first use) with its source's rate limit, and the
``AccountSnapshot`` a refresh returns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from xtrack.db import Database, utcnow
from xtrack.posts.coverage import Coverage
from xtrack.posts.limits import SourceBlock, limited_until_of, pause_reason_of, paused_until_of
from xtrack.posts.models import AccountState, StoredPost, XAccount
from xtrack.posts.store import Connection, NewPosts
from xtrack.sources.base import Source
from xtrack.sources.handles import network_of, parse_handle


def normalize_username(value: str) -> str:
    """The stored form of an account (``sources.handles``): ``@Alice`` -> ``alice`` (X handles are
    case-insensitive), ``@Alice.bsky.social`` -> ``alice.bsky.social``, ``@Bob@Mastodon.social`` ->
    ``bob@mastodon.social``."""
    handle = parse_handle(value)
    if handle is None:
        raise ValueError(
            f"'{value[:100]}' is not an account (an X username, a Bluesky handle or user@server on Mastodon)"
        )
    return handle.account.lower()


async def get_account(session: AsyncSession, *, source: str, username: str) -> XAccount | None:
    """The stored account of ``source`` with this username (any case, with or without @)."""
    try:
        name = normalize_username(username)
    except ValueError:
        return None
    return cast(
        XAccount | None,
        await session.scalar(
            select(XAccount).where(
                XAccount.source == source,
                XAccount.network == network_of(name).value,
                XAccount.username == name,
            )
        ),
    )


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
    # What this call's own fetch cost upstream: posts the source returned, user lookups made.
    posts_read: int = 0
    lookups: int = 0
    gap_note: str | None = None  # why this call's fetch says gap, in the source's words

    @property
    def fetched_at(self) -> datetime | None:
        """When the fetch the stored posts come from began (an alias of ``covered_until``)."""
        return self.covered_until


@dataclass(frozen=True, slots=True)
class AccountRow:
    """The columns of ``x_accounts`` a refresh reads and writes."""

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
    def of(cls, account: Any) -> AccountRow:
        """From a row of ``ACCOUNT_COLUMNS``."""
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


def snapshot(
    account: AccountRow,
    *,
    need_since: datetime,
    requests: int,
    stored: int,
    new_posts: NewPosts | None = None,
    posts_read: int = 0,
    lookups: int = 0,
    gap_note: str | None = None,
) -> AccountSnapshot:
    """What a refresh returns about ``account``, for a need of posts since ``need_since``."""
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
        posts_read=posts_read,
        lookups=lookups,
        gap_note=gap_note,
    )


# The hot path's tables, for Core statements (no ORM unit of work: see bench/RESULTS.md).
ACCOUNTS = cast(Table, XAccount.__table__)
_POSTS = cast(Table, StoredPost.__table__)
ACCOUNT_COLUMNS = [
    ACCOUNTS.c[name]
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
# The source's rate-limit reset and pause, and the account's row (its columns NULL when the account
# has none yet), in one statement that always returns one row: a first use learns whether the source
# may be called without a second read, and creates the row with its fetch lease taken.
_ONE_ROW = select(literal(1).label("one")).subquery("one_row")
_READ_ACCOUNT = select(
    *ACCOUNT_COLUMNS,
    limited_until_of(bindparam("source")).label("limited_until"),
    paused_until_of(bindparam("source")).label("paused_until"),
    pause_reason_of(bindparam("source")).label("pause_reason"),
).select_from(
    _ONE_ROW.outerjoin(
        ACCOUNTS,
        and_(
            ACCOUNTS.c.source == bindparam("source"),
            ACCOUNTS.c.network == bindparam("network"),
            ACCOUNTS.c.username == bindparam("username"),
        ),
    )
)
# A first use's row, returned as stored; nothing when a concurrent caller created it first.
_CREATE_ACCOUNT = {
    name: dialect.insert(ACCOUNTS)
    .on_conflict_do_nothing(index_elements=["source", "network", "username"])
    .returning(*ACCOUNT_COLUMNS)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


@dataclass(frozen=True, slots=True)
class AccountRead:
    """What ``read_account`` found: the row, the source's limits, whether a backfill could reach
    further, and whether this caller created the row holding its fetch lease."""

    row: AccountRow
    block: SourceBlock
    reachable: bool
    leased: bool = False


async def read_account(
    session: Connection,
    database: Database,
    source: Source,
    username: str,
    need_since: datetime,
    *,
    lease_at: datetime | None = None,
) -> AccountRead:
    """The account row with its source's limits; a first use creates the row, holding its fetch
    lease from ``lease_at`` when given and the source may be called now (a new account has nothing
    stored, so its first fetch is due: no decision to make, and no UPDATE to take the lease)."""
    network = network_of(username).value
    key = {"source": source.name, "network": network, "username": username}
    found = (await session.execute(_READ_ACCOUNT, key)).one()
    block = SourceBlock(found.limited_until, found.paused_until, found.pause_reason)
    if found.id is None:
        leased = lease_at is not None and block.error(source.name, now=lease_at) is None
        values = {**key, "state": AccountState.OK.value, "created_at": utcnow()}
        values["fetch_started_at"] = lease_at if leased else None
        created = (await session.execute(_CREATE_ACCOUNT[database.dialect], values)).first()
        if created is not None:
            return AccountRead(AccountRow.of(created), block, reachable=True, leased=leased)
        found = (await session.execute(_READ_ACCOUNT, key)).one()  # a concurrent creator's row
    row = AccountRow.of(found)
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
    return AccountRead(row, block, reachable)
