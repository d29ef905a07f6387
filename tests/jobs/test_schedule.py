from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xtrack.jobs import schedule

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
aware_times = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
)
frequencies = st.one_of(st.sampled_from(list(schedule.PRESETS.values())), st.integers(15, 43_200))


@settings(max_examples=300, deadline=None)
@given(next_run_at=aware_times, now=aware_times, frequency=frequencies)
def test_a_due_job_runs_one_slot_and_is_rescheduled_into_the_future(
    next_run_at: datetime, now: datetime, frequency: int
) -> None:
    dispatch = schedule.due_slot(next_run_at, frequency_minutes=frequency, now=now)
    if next_run_at > now:
        assert dispatch is None
        return
    assert dispatch is not None
    step = timedelta(minutes=frequency)
    # never in the past, and exactly the first future slot of the job's grid
    assert dispatch.next_run_at > now
    assert dispatch.next_run_at - step <= now
    assert next_run_at <= dispatch.slot <= now
    assert (dispatch.slot - next_run_at) % step == timedelta(0)
    assert dispatch.next_run_at == dispatch.slot + step


@settings(max_examples=200, deadline=None)
@given(
    start=aware_times,
    frequency=frequencies,
    ticks=st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=30),
)
def test_any_sequence_of_ticks_never_runs_one_instant_twice_and_collapses_gaps(
    start: datetime, frequency: int, ticks: list[int]
) -> None:
    """A scheduler ticking at arbitrary increasing times (seconds apart, gaps of any length)."""
    next_run_at = start
    now = start
    slots: list[datetime] = []
    for advance in ticks:
        now += timedelta(seconds=advance)
        before = next_run_at
        dispatch = schedule.due_slot(next_run_at, frequency_minutes=frequency, now=now)
        if dispatch is None:
            continue
        missed = (now - before) // timedelta(minutes=frequency) + 1
        assert missed >= 1  # however many slots were missed, this tick dispatches exactly one
        slots.append(dispatch.slot)
        next_run_at = dispatch.next_run_at
        assert next_run_at > now
    assert len(slots) == len(set(slots))
    assert slots == sorted(slots)


def test_ten_missed_intervals_collapse_into_one_catch_up_slot() -> None:
    dispatch = schedule.due_slot(NOW, frequency_minutes=60, now=NOW + timedelta(hours=10, minutes=5))
    assert dispatch == schedule.Dispatch(
        slot=NOW + timedelta(hours=10), next_run_at=NOW + timedelta(hours=11)
    )
    assert (
        schedule.due_slot(
            dispatch.next_run_at, frequency_minutes=60, now=NOW + timedelta(hours=10, minutes=6)
        )
        is None
    )


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        schedule.due_slot(datetime(2026, 1, 1), frequency_minutes=60, now=NOW)


@pytest.mark.parametrize(
    ("value", "minutes"),
    [
        ("15m", 15),
        ("30m", 30),
        ("1h", 60),
        ("3h", 180),
        ("6h", 360),
        ("12h", 720),
        ("24h", 1440),
        (90, 90),
        ("45", 45),
    ],
)
def test_frequencies_and_presets(value: int | str, minutes: int) -> None:
    assert schedule.parse_frequency(value) == minutes


@pytest.mark.parametrize("value", [14, 0, -5, "10m", "2w", "", "1.5h", 43_201])
def test_bad_frequencies_are_refused(value: int | str) -> None:
    with pytest.raises(ValueError):
        schedule.parse_frequency(value)


def test_first_run_covers_24_hours_or_one_interval_if_longer() -> None:
    assert schedule.window_start(now=NOW, frequency_minutes=60, last_run=None) == NOW - timedelta(hours=24)
    assert schedule.window_start(now=NOW, frequency_minutes=2880, last_run=None) == NOW - timedelta(hours=48)
    assert schedule.first_run_hours(60) == 24 and schedule.first_run_hours(1500) == 25


@settings(max_examples=200, deadline=None)
@given(first=aware_times, later=st.integers(0, 10**8), frequency=frequencies)
def test_window_without_cursor_never_moves_back_past_an_earlier_window(
    first: datetime, later: int, frequency: int
) -> None:
    """A later run without a cursor reaches back exactly as far as the run before it, so no post
    that was never summarized slips out of its window."""
    first_start = schedule.window_start(now=first, frequency_minutes=frequency, last_run=None)
    now = first + timedelta(seconds=later)
    next_start = schedule.window_start(now=now, frequency_minutes=frequency, last_run=first)
    assert next_start == first_start
    assert next_start < now


def test_frequency_change_reschedules_from_the_last_run() -> None:
    assert schedule.rescheduled(current=NOW, last_run=None, frequency_minutes=15, now=NOW) == NOW
    last = NOW - timedelta(hours=1)
    assert schedule.rescheduled(
        current=NOW + timedelta(hours=5), last_run=last, frequency_minutes=15, now=NOW
    ) == (last + timedelta(minutes=15))
