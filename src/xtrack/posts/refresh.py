"""``refresh_account``: the only way the engine and the playground reach a source. It makes the
stored posts of an account complete for a need, sharing the work (DESIGN "Cost grows with accounts,
not with jobs"):

* The account's fetch lease (``posts.lease``) is claimed in a short statement (on an account's
  first use, by creating its row holding the lease: ``accounts.read_account``); the claimer calls
  the source with no transaction open (invariant 7), then stores posts, moves the cursor and
  releases the lease in one short transaction (``posts.fetch``).
* A caller that finds the lease held by a fetch that began at or after its ``requested_at`` joins
  it: it waits for the lease to clear and reads the stored posts. A fetch that began earlier may
  have missed what the caller needs, so the caller waits for it and then makes its own ``since_id``
  call (free when nothing is new).
* Callers in the same process also share one in-flight refresh per account (a flight), so fifty
  runs of one account poll the database once, not fifty times.
* ``source_limits`` is read before every call (``posts.limits``): a source rate limited until T
  gets no request before T from any process, nor one paused because its quota is used up."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field, replace
from datetime import datetime

from xtrack.db import Database, utcnow
from xtrack.posts.accounts import AccountRow, AccountSnapshot, normalize_username, read_account, snapshot
from xtrack.posts.coverage import Coverage, LeaseAction, decide_lease, fresh_enough
from xtrack.posts.fetch import Clock, clone_error, fetch_and_store, recent_failure
from xtrack.posts.lease import claim_lease
from xtrack.posts.models import AccountState
from xtrack.posts.store import NewPosts, PostsWanted, new_posts
from xtrack.sources.base import (
    AccountNotFound,
    AccountUnavailable,
    Source,
    SourceError,
    TransientSourceError,
)
from xtrack.sources.networks import source_for

# Waiting on another fetch: poll the lease this often (growing), never longer than this in total.
POLL_FIRST_SECONDS = 0.02
POLL_MAX_SECONDS = 0.5


async def refresh_account(
    database: Database,
    source: Source,
    *,
    username: str,
    need_since: datetime,
    requested_at: datetime,
    lease_seconds: float,
    now: Clock = utcnow,
    wanted: PostsWanted | None = None,
) -> AccountSnapshot:
    """Make the stored posts of ``username`` complete from ``need_since`` up to a moment no earlier
    than ``requested_at``, fetching only what is missing, and return the account's state (with the
    ``wanted`` posts when they could be read in the same transaction: ``new_posts``).

    Raises the SourceError of the fetch (or of the fetch it joined): AccountNotFound /
    AccountUnavailable (the account's state is updated), SourceRateLimited (also when the source is
    known to be limited: no request is made), BadCredentials, TransientSourceError,
    MalformedResponse, RequestRejected. A lease held longer than ``lease_seconds`` is stale."""
    try:
        name = normalize_username(username)
    except ValueError as exc:
        raise AccountNotFound(str(exc)) from None
    source = source_for(source, name)  # each network through its own source (X: XTRACK_SOURCE)
    key = (database, source.name, name)
    running = _flights.get(key)
    if running is not None:
        # Another refresh of this account is in flight in this process: let it do the work.
        await running.done.wait()
        if running.error is not None and running.started_at >= requested_at:
            raise clone_error(running.error)
        shared = running.snapshot
        if shared is not None and fresh_enough(
            Coverage(shared.newest_post_id, shared.covered_since, shared.covered_until),
            requested_at=requested_at,
            need_since=need_since,
        ):
            # Its stored state answers this need too: no database round trip (the caller reads
            # its posts itself).
            return replace(
                shared,
                gap=False,
                requests_made=0,
                posts_stored=0,
                new_posts=None,
                posts_read=0,
                lookups=0,
                gap_note=None,
            )
        return await _refresh(database, source, name, need_since, requested_at, now, lease_seconds, wanted)
    flight = _Flight(started_at=now())
    _flights[key] = flight
    try:
        flight.snapshot = await _refresh(
            database, source, name, need_since, requested_at, now, lease_seconds, wanted
        )
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
            current = now()
            read = await read_account(session, database, source, username, need_since, lease_at=current)
            row, reachable = read.row, read.reachable
            if read.leased:  # a first use: the row was created holding the lease, nothing to decide
                action, claimed = LeaseAction.CLAIM, True
            else:
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
            blocked = read.block.error(source.name, now=current)
            if action is LeaseAction.CLAIM and blocked is None and not claimed:
                claimed = await claim_lease(
                    session, row.id, now=current, lease_seconds=lease_seconds, seen=row.coverage
                )
            if action is LeaseAction.USE_STORED and wanted is not None:
                found = await new_posts(session, account_id=row.id, wanted=wanted)
        if action is LeaseAction.USE_STORED:
            return snapshot(row, need_since=need_since, requests=0, stored=0, new_posts=found)
        if blocked is not None and action in (LeaseAction.CLAIM, LeaseAction.JOINED_FAILED):
            raise blocked
        if action is LeaseAction.JOINED_FAILED:
            assert joined is not None
            raise _joined_failure(database, source.name, row, joined)
        if claimed:
            return await fetch_and_store(
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


def _joined_failure(database: Database, source_name: str, row: AccountRow, joined: datetime) -> SourceError:
    """The error of the fetch this caller joined: its own (same process) or one read from the row."""
    known = recent_failure(database, source_name, row.id, joined)
    if known is not None:
        return known
    if row.state == AccountState.NOT_FOUND:
        return AccountNotFound(f"@{row.username} does not exist on {source_name}")
    if row.state in (AccountState.PROTECTED, AccountState.SUSPENDED):
        return AccountUnavailable(f"@{row.username} is {row.state}", state=row.state)
    return TransientSourceError(f"a concurrent fetch of @{row.username} failed; try again")
