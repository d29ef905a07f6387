"""The pure decisions of the posts store: which call, what is covered, what to do about a lease."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from xtrack.posts.coverage import (
    Coverage,
    FetchPlan,
    LeaseAction,
    decide_lease,
    fresh_enough,
    merge_coverage,
    plan_fetch,
)
from xtrack.sources.ids import snowflake

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def t(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


# --- which call ----------------------------------------------------------------------------------


def test_first_fetch_is_the_whole_window() -> None:
    assert plan_fetch(Coverage(), need_since=t(-60)) == FetchPlan(None, t(-60), conditional=False)


def test_covered_window_gets_a_since_id_call() -> None:
    coverage = Coverage("500", covered_since=t(-120), covered_until=t(-5))
    assert plan_fetch(coverage, need_since=t(-60)) == FetchPlan("500", t(-60), conditional=True)


def test_older_window_backfills_only_what_is_not_stored() -> None:
    coverage = Coverage("500", covered_since=t(-60), covered_until=t(-5))
    plan = plan_fetch(coverage, need_since=t(-600))
    assert plan == FetchPlan("500", t(-600), conditional=False, backfill_until=t(-60))
    assert not plan.backfill  # a since_id call for what is new, and a bounded one for the older part


def test_a_window_starting_seconds_earlier_backfills_those_seconds_only() -> None:
    """Several first runs on one account: the one whose 24 h window starts a few seconds before
    what the others stored asks for those seconds, not the whole day again."""
    coverage = Coverage("500", covered_since=t(-24 * 60), covered_until=t(-1))
    plan = plan_fetch(coverage, need_since=t(-24 * 60 - 0.1))
    assert plan.backfill_until == t(-24 * 60) and plan.since_id == "500"
    after = merge_coverage(
        coverage, coverage, plan, fetched_at=t(0), newest_fetched="600", oldest_fetched_at=None, gap=False
    )
    assert after == Coverage("600", t(-24 * 60 - 0.1), t(0))


def test_unreachable_backfill_stays_a_since_id_call() -> None:
    coverage = Coverage("500", covered_since=t(-60), covered_until=t(-5))
    plan = plan_fetch(coverage, need_since=t(-600), backfill_reachable=False)
    assert plan == FetchPlan("500", t(-600), conditional=False)


# --- what is covered afterwards ------------------------------------------------------------------


def test_since_id_call_extends_the_coverage_up_to_the_fetch() -> None:
    before = Coverage("500", t(-120), t(-30))
    plan = plan_fetch(before, need_since=t(-60))
    after = merge_coverage(
        before, before, plan, fetched_at=t(0), newest_fetched="900", oldest_fetched_at=t(-20), gap=False
    )
    assert after == Coverage("900", t(-120), t(0))


def test_a_window_starting_after_the_last_fetch_restarts_the_coverage() -> None:
    before = Coverage("500", t(-600), t(-300))
    plan = plan_fetch(before, need_since=t(-60))
    after = merge_coverage(
        before, before, plan, fetched_at=t(0), newest_fetched=None, oldest_fetched_at=None, gap=False
    )
    assert after == Coverage("500", t(-60), t(0))


def test_a_gap_covers_only_back_to_the_oldest_post_read() -> None:
    before = Coverage("500", t(-600), t(-300))
    plan = plan_fetch(before, need_since=t(-600))
    after = merge_coverage(
        before, before, plan, fetched_at=t(0), newest_fetched="9000", oldest_fetched_at=t(-100), gap=True
    )
    assert after == Coverage("9000", t(-100), t(0))


def test_a_late_fetch_never_moves_coverage_backwards() -> None:
    planned_from = Coverage("500", t(-120), t(-30))
    current = Coverage("800", t(-120), t(10))  # another fetch stored after ours began
    plan = plan_fetch(planned_from, need_since=t(-60))
    after = merge_coverage(
        current,
        planned_from,
        plan,
        fetched_at=t(0),
        newest_fetched="700",
        oldest_fetched_at=t(-25),
        gap=False,
    )
    assert after == Coverage("800", t(-120), t(10))


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[int], list[tuple[int, int]], int | None]:
    """Post times (seconds), then refreshes (at second, window seconds), and a timeline depth."""
    posts = draw(st.lists(st.integers(0, 5000), max_size=60, unique=True))
    steps = draw(st.lists(st.tuples(st.integers(0, 5000), st.integers(1, 5000)), min_size=1, max_size=12))
    steps.sort()
    depth = draw(st.one_of(st.none(), st.integers(1, 30)))
    return sorted(posts), steps, depth


@settings(max_examples=300, deadline=None)
@given(history=histories())
def test_stored_posts_are_complete_over_the_coverage(
    history: tuple[list[int], list[tuple[int, int]], int | None],
) -> None:
    """Whatever the sequence of refreshes, windows and the source's depth: every post created in
    [covered_since, covered_until] is stored; a refresh reporting no gap has every post of its
    window; and a since_id call never reads a post twice."""
    times, steps, depth = history
    ids = {
        snowflake(t(0) + timedelta(seconds=s), i): t(0) + timedelta(seconds=s) for i, s in enumerate(times)
    }
    stored: set[int] = set()
    coverage = Coverage()
    for at, window in steps:
        now = t(0) + timedelta(seconds=at)
        need_since = now - timedelta(seconds=window)
        since = coverage.covered_since
        reachable = depth is None or since is None or sum(1 for i in stored if ids[i] >= since) < depth
        plan = plan_fetch(coverage, need_since=need_since, backfill_reachable=reachable)
        # The source: posts published by now, newer than the cursor, inside the window, within depth.
        published = sorted((i for i, when in ids.items() if when <= now), reverse=True)
        reachable_posts = published[:depth] if depth is not None else published
        returned = [
            i
            for i in reachable_posts
            if (plan.since_id is None or i > int(plan.since_id)) and ids[i] >= plan.start_time
        ]
        gap = depth is not None and len(returned) >= depth
        if plan.since_id is not None:
            assert not (set(returned) & stored), "a since_id call read a stored post again"
        if plan.backfill_until is not None:
            bound = plan.backfill_until
            older = [i for i in reachable_posts if plan.start_time <= ids[i] <= bound]
            assert all(ids[i] <= bound for i in older), "a bounded backfill read past its bound"
            # As fetch._beyond_depth: what sits above the window plus what came back.
            above = sum(1 for i in stored if since is not None and ids[i] >= since)
            gap = gap or (depth is not None and above + len(returned) + len(older) >= depth)
            returned += older
        stored |= set(returned)
        coverage = merge_coverage(
            coverage,
            coverage,
            plan,
            fetched_at=now,
            newest_fetched=str(max(returned)) if returned else None,
            oldest_fetched_at=min(ids[i] for i in returned) if returned else None,
            gap=gap,
        )
        assert coverage.covered_since is not None and coverage.covered_until == now
        missing = [i for i, when in ids.items() if coverage.covered_since <= when <= now and i not in stored]
        assert not missing
        if coverage.covered_since <= need_since:
            assert all(i in stored for i, when in ids.items() if need_since <= when <= now)
        if depth is None:
            assert coverage.covered_since <= need_since, "a source without depth limit leaves no gap"


# --- leases --------------------------------------------------------------------------------------


def decide(
    coverage: Coverage,
    fetch_started_at: datetime | None,
    *,
    requested_at: datetime = t(0),
    need_since: datetime = t(-60),
    joined: datetime | None = None,
    now: datetime = t(0.6),
) -> LeaseAction:
    return decide_lease(
        coverage,
        fetch_started_at=fetch_started_at,
        now=now,
        lease_seconds=60,
        requested_at=requested_at,
        need_since=need_since,
        joined=joined,
    )


def test_lease_decisions() -> None:
    old = Coverage("1", t(-120), t(-10))
    fresh = Coverage("2", t(-120), t(0.5))
    assert decide(fresh, None) is LeaseAction.USE_STORED
    assert decide(old, None) is LeaseAction.CLAIM
    assert decide(old, t(0.5)) is LeaseAction.JOIN  # began after the need: its posts will do
    assert decide(old, t(-0.2)) is LeaseAction.WAIT  # began before the need: wait, then our own call
    assert decide(old, t(-5), now=t(0)) is LeaseAction.CLAIM  # held longer than the lease: stale
    # The joined fetch ended without storing anything: it failed.
    assert decide(old, None, joined=t(0.5)) is LeaseAction.JOINED_FAILED
    # It stored, but not as far back as we need: our own (backfill) call.
    assert decide(fresh, None, joined=t(0.5), need_since=t(-600)) is LeaseAction.CLAIM


@settings(max_examples=300)
@given(
    until=st.one_of(st.none(), st.integers(-100, 100)),
    started=st.one_of(st.none(), st.integers(-100, 100)),
    requested=st.integers(-100, 100),
    now=st.integers(0, 100),
)
def test_never_use_stale_posts_and_never_claim_a_live_lease(
    until: int | None, started: int | None, requested: int, now: int
) -> None:
    coverage = Coverage("1", t(-1000), None if until is None else t(until))
    action = decide(coverage, None if started is None else t(started), requested_at=t(requested), now=t(now))
    if action is LeaseAction.USE_STORED:
        assert until is not None and until >= requested
    if action is LeaseAction.CLAIM and started is not None:
        assert t(started) < t(now) - timedelta(seconds=60)
    assert fresh_enough(coverage, requested_at=t(requested), need_since=t(-60)) == (
        action is LeaseAction.USE_STORED
    )
