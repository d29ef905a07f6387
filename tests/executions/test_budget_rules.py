"""The budget decisions as pure functions: the user's calendar month, which notices are due, and
when a run may call the LLM."""

from __future__ import annotations

from datetime import UTC, datetime

from xtrack.executions import budget as budgets


def budget(*, limit: float | None, spent: float, action: str = "offline") -> budgets.Budget:
    return budgets.Budget(
        limit_usd=limit, spent_usd=spent, action=action, resets_at=datetime(2027, 1, 1, tzinfo=UTC)
    )


def test_the_month_is_the_calendar_month_in_the_users_time_zone() -> None:
    # 23:30 UTC on 30 Nov is already 1 Dec in Tokyo, still 30 Nov in New York.
    now = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
    start, end = budgets.month_bounds(now, "Asia/Tokyo")
    assert start == datetime(2026, 11, 30, 15, 0, tzinfo=UTC)  # 1 Dec 00:00 JST
    assert end == datetime(2026, 12, 31, 15, 0, tzinfo=UTC)
    assert budgets.month_bounds(now, "America/New_York")[0] == datetime(2026, 11, 1, 4, 0, tzinfo=UTC)
    assert budgets.month_bounds(datetime(2026, 12, 15, tzinfo=UTC), "UTC")[1] == datetime(
        2027, 1, 1, tzinfo=UTC
    )
    assert budgets.month_key(now, "Asia/Tokyo") == "2026-12" and budgets.month_key(now, "UTC") == "2026-11"


def test_notices_are_due_once_each_as_the_spend_crosses_80_and_100_percent() -> None:
    assert budgets.notices_due(0.015, 0.02, already_sent=0) == []
    assert budgets.notices_due(0.016, 0.02, already_sent=0) == [80]
    assert budgets.notices_due(0.025, 0.02, already_sent=0) == [80, 100]
    assert budgets.notices_due(0.025, 0.02, already_sent=80) == [100]
    assert budgets.notices_due(0.025, 0.02, already_sent=100) == []
    assert budgets.notices_due(5.0, None, already_sent=0) == []  # no limit, no notices


def test_the_llm_is_used_only_for_enough_posts_and_an_unspent_budget() -> None:
    assert budgets.offline_reason(2, min_posts=3, budget=None) == budgets.OFFLINE_FEW_POSTS
    assert budgets.offline_reason(3, min_posts=3, budget=None) is None
    assert budgets.offline_reason(3, min_posts=3, budget=budget(limit=None, spent=9.0)) is None
    spent = budget(limit=0.02, spent=0.02)
    assert budgets.offline_reason(50, min_posts=3, budget=spent) == budgets.OFFLINE_BUDGET
    assert spent.offline and not spent.paused
    paused = budget(limit=0.02, spent=0.03, action="pause")
    assert paused.paused and not paused.offline
    assert "$0.02" in budgets.exhausted_message(paused) and "01 Jan 2027" in budgets.exhausted_message(paused)


def test_the_instance_ceiling_applies_the_users_action() -> None:
    ceiling = budgets.Budget(
        limit_usd=None,
        spent_usd=0.0,
        action="pause",
        resets_at=datetime(2027, 1, 1, tzinfo=UTC),
        instance_limit_usd=10.0,
        instance_spent_usd=10.5,
    )
    assert ceiling.reached and ceiling.paused
    assert "XTRACK_MONTHLY_BUDGET_USD" in budgets.exhausted_message(ceiling)
