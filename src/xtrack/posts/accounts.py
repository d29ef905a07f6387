"""Followed accounts (``x_accounts``, one row per source and username, shared by every job that
follows it): naming, reading the row (created on first use) with its source's rate limit, and the
``AccountSnapshot`` a refresh returns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select
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
# The account (by source and username) and the source's rate-limit reset and pause, in one statement.
_READ_ACCOUNT = select(
    *ACCOUNT_COLUMNS,
    limited_until_of(ACCOUNTS.c.source).label("limited_until"),
    paused_until_of(ACCOUNTS.c.source).label("paused_until"),
    pause_reason_of(ACCOUNTS.c.source).label("pause_reason"),
).where(
    ACCOUNTS.c.source == bindparam("source"),
    ACCOUNTS.c.network == bindparam("network"),
    ACCOUNTS.c.username == bindparam("username"),
)


async def read_account(
    session: Connection, database: Database, source: Source, username: str, need_since: datetime
) -> tuple[AccountRow, SourceBlock, bool]:
    """The account row (created on first use), the source's rate-limit reset and pause, and
    whether a backfill could reach further."""
    network = network_of(username).value
    key = {"source": source.name, "network": network, "username": username}
    found = (await session.execute(_READ_ACCOUNT, key)).first()
    if found is None:
        # First use of this account: create its row (a concurrent creator's row is as good).
        dialect = postgresql if database.dialect == "postgresql" else sqlite
        await session.execute(
            dialect.insert(XAccount)
            .values(
                source=source.name,
                network=network,
                username=username,
                state=AccountState.OK.value,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["source", "network", "username"])
        )
        found = (await session.execute(_READ_ACCOUNT, key)).one()
    row = AccountRow.of(found)
    block = SourceBlock(found.limited_until, found.paused_until, found.pause_reason)
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
    return row, block, reachable
