"""The decisions of the posts store as pure functions: which call to make, what the stored posts
cover afterwards, and what a caller does when it meets another fetch's lease.

Coverage of an account: every post created in ``[covered_since, covered_until]`` is stored
(``covered_until`` is ``x_accounts.last_fetched_at``, the moment the last successful fetch began)
and ``newest_post_id`` is the highest id stored. Sources return everything newer than ``since_id``
up to the moment they answer, and ids are time-ordered snowflakes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Coverage:
    newest_post_id: str | None = None
    covered_since: datetime | None = None
    covered_until: datetime | None = None

    @property
    def known(self) -> bool:
        return self.covered_since is not None and self.covered_until is not None


@dataclass(frozen=True, slots=True)
class FetchPlan:
    """One source call: posts newer than ``since_id`` (``None``: the whole window) and created at or
    after ``start_time``. ``conditional``: an ETag/Last-Modified from the last read may be sent,
    because the stored posts already hold everything that read returned for this window.
    ``backfill_until``: a second, bounded call for the part of the window older than the stored
    posts (``[start_time, backfill_until]``), so a window that starts a little earlier than what is
    stored reads that sliver only, not the whole window again."""

    since_id: str | None
    start_time: datetime
    conditional: bool
    backfill_until: datetime | None = None

    @property
    def backfill(self) -> bool:
        return self.since_id is None


def plan_fetch(coverage: Coverage, *, need_since: datetime, backfill_reachable: bool = True) -> FetchPlan:
    """A ``since_id`` call from the newest stored post when the stored posts reach back to
    ``need_since``; when they start later, the same call plus a backfill bounded by where the stored
    posts begin; with nothing stored, the whole window from ``need_since`` (a first fetch).
    ``backfill_reachable=False`` (the source cannot reach further back than what is stored) keeps
    to the ``since_id`` call. Posts older than ``need_since`` are never asked for, and posts already
    stored are not asked for again."""
    since = coverage.covered_since
    known = since is not None and coverage.covered_until is not None
    reaches_back = since is not None and known and since <= need_since
    if coverage.newest_post_id is not None and known and (reaches_back or not backfill_reachable):
        return FetchPlan(since_id=coverage.newest_post_id, start_time=need_since, conditional=reaches_back)
    if coverage.newest_post_id is not None and known and since is not None:
        return FetchPlan(
            since_id=coverage.newest_post_id, start_time=need_since, conditional=False, backfill_until=since
        )
    return FetchPlan(since_id=None, start_time=need_since, conditional=reaches_back)


def _max_id(*ids: str | int | None) -> str | None:
    present = [int(i) for i in ids if i is not None]
    return str(max(present)) if present else None


def merge_coverage(
    current: Coverage,
    planned_from: Coverage,
    plan: FetchPlan,
    *,
    fetched_at: datetime,
    newest_fetched: str | None,
    oldest_fetched_at: datetime | None,
    gap: bool,
) -> Coverage:
    """Coverage after a successful fetch that began at ``fetched_at``.

    ``planned_from`` is the coverage the plan was made from, ``current`` the row as it is now
    (the same unless another fetch stored in between, e.g. after this one's lease went stale).
    A window fetch covers ``[start_time, fetched_at]``; a ``since_id`` fetch adds the posts after
    the cursor, so it extends the planned-from coverage when the window starts inside it. With a
    gap only ``[oldest fetched, fetched_at]`` is known to be complete."""
    low = plan.start_time
    p_since, p_until = planned_from.covered_since, planned_from.covered_until
    if (
        plan.since_id is not None
        and plan.backfill_until is None
        and p_since is not None
        and p_until is not None
        and low <= p_until
    ):
        # Everything from p_since up to the cursor was stored; the call added what came after it.
        # (With a bounded backfill, that call stored [start_time, p_since] too: low stays.)
        low = p_since
    if gap:
        low = max(low, oldest_fetched_at or fetched_at)
    newest = _max_id(current.newest_post_id, planned_from.newest_post_id, newest_fetched)
    if not current.known:
        return Coverage(newest, low, fetched_at)
    since, until = current.covered_since, current.covered_until
    assert since is not None and until is not None
    if low <= until and since <= fetched_at:
        return Coverage(newest, min(low, since), max(fetched_at, until))
    if fetched_at > until:
        return Coverage(newest, low, fetched_at)
    return Coverage(newest, since, until)


def fresh_enough(
    coverage: Coverage, *, requested_at: datetime, need_since: datetime, backfill_reachable: bool = True
) -> bool:
    """The stored posts answer a need raised at ``requested_at`` for posts since ``need_since``:
    a fetch that began after the need succeeded, and the posts reach back far enough (or the source
    cannot reach further back anyway)."""
    since, until = coverage.covered_since, coverage.covered_until
    return (
        since is not None
        and until is not None
        and until >= requested_at
        and (since <= need_since or not backfill_reachable)
    )


class LeaseAction(StrEnum):
    USE_STORED = "use_stored"  # the stored posts answer the need: no request
    CLAIM = "claim"  # the lease is free (or stale): take it and fetch
    JOIN = "join"  # a fetch that began after the need is running: wait for it, then read
    WAIT = "wait"  # a fetch that began before the need is running: wait, then make our own call
    JOINED_FAILED = "joined_failed"  # the fetch we joined ended without storing anything


def lease_is_free(fetch_started_at: datetime | None, *, now: datetime, lease_seconds: float) -> bool:
    return fetch_started_at is None or fetch_started_at < now - timedelta(seconds=lease_seconds)


def decide_lease(
    coverage: Coverage,
    *,
    fetch_started_at: datetime | None,
    now: datetime,
    lease_seconds: float,
    requested_at: datetime,
    need_since: datetime,
    joined: datetime | None,
    backfill_reachable: bool = True,
) -> LeaseAction:
    """What a caller does next. ``joined`` is the start of the fetch it is waiting on, if any."""
    if fresh_enough(
        coverage, requested_at=requested_at, need_since=need_since, backfill_reachable=backfill_reachable
    ):
        return LeaseAction.USE_STORED
    if (
        joined is not None
        and fetch_started_at != joined
        and (coverage.covered_until is None or coverage.covered_until < joined)
    ):
        # The fetch we joined has ended and did not store: it failed.
        return LeaseAction.JOINED_FAILED
    if lease_is_free(fetch_started_at, now=now, lease_seconds=lease_seconds):
        return LeaseAction.CLAIM
    assert fetch_started_at is not None
    return LeaseAction.JOIN if fetch_started_at >= requested_at else LeaseAction.WAIT
