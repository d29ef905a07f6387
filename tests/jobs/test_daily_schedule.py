"""A schedule at a local time: ``next_daily_run`` across daylight-saving changes, and its label."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from xtrack.jobs.schedule import describe_daily, next_daily_run

MWF = ["mon", "wed", "fri"]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def runs(now: datetime, count: int, **schedule: object) -> list[datetime]:
    """The next ``count`` runs after ``now``, each computed from the previous one."""
    found = []
    for _ in range(count):
        now = next_daily_run(now=now, **schedule)  # type: ignore[arg-type]
        found.append(now)
    return found


def test_new_york_mon_wed_fri_at_8_across_the_march_change() -> None:
    # 2027-03-14 (a Sunday) clocks go from 02:00 EST to 03:00 EDT: 08:00 is 13:00 UTC, then 12:00.
    found = runs(utc(2027, 3, 10, 14, 0), 3, daily_at="08:00", days=MWF, timezone="America/New_York")
    assert found == [utc(2027, 3, 12, 13, 0), utc(2027, 3, 15, 12, 0), utc(2027, 3, 17, 12, 0)]


def test_new_york_mon_wed_fri_at_8_across_the_november_change() -> None:
    # 2027-11-07 (a Sunday) clocks go back from 02:00 EDT to 01:00 EST: 08:00 is 12:00 UTC, then 13:00.
    found = runs(utc(2027, 11, 3, 13, 0), 3, daily_at="08:00", days=MWF, timezone="America/New_York")
    assert found == [utc(2027, 11, 5, 12, 0), utc(2027, 11, 8, 13, 0), utc(2027, 11, 10, 13, 0)]


def test_a_skipped_local_time_runs_when_the_clocks_have_jumped() -> None:
    # 02:30 does not exist in New York on 2027-03-14: that day's run is at 03:00 EDT (07:00 UTC).
    found = runs(utc(2027, 3, 13, 12, 0), 3, daily_at="02:30", days=None, timezone="America/New_York")
    assert found == [utc(2027, 3, 14, 7, 0), utc(2027, 3, 15, 6, 30), utc(2027, 3, 16, 6, 30)]


def test_a_repeated_local_time_runs_once() -> None:
    # 01:30 happens twice in New York on 2027-11-07 (EDT, then EST): one run, at the first.
    found = runs(utc(2027, 11, 6, 12, 0), 2, daily_at="01:30", days=None, timezone="America/New_York")
    assert found == [utc(2027, 11, 7, 5, 30), utc(2027, 11, 8, 6, 30)]
    # Even asked between the two 01:30s, the day's run is not repeated.
    assert next_daily_run(
        now=utc(2027, 11, 7, 6, 0), daily_at="01:30", days=None, timezone="America/New_York"
    ) == utc(2027, 11, 8, 6, 30)


def test_paris_across_its_march_change() -> None:
    # 2027-03-28: CET (UTC+1) to CEST (UTC+2).
    found = runs(utc(2027, 3, 24, 12, 0), 3, daily_at="08:00", days=MWF, timezone="Europe/Paris")
    assert found == [utc(2027, 3, 26, 7, 0), utc(2027, 3, 29, 6, 0), utc(2027, 3, 31, 6, 0)]


def test_paris_across_its_october_change() -> None:
    # 2027-10-31: CEST back to CET.
    found = runs(utc(2027, 10, 27, 12, 0), 2, daily_at="08:00", days=MWF, timezone="Europe/Paris")
    assert found == [utc(2027, 10, 29, 6, 0), utc(2027, 11, 1, 7, 0)]


def test_kolkata_has_no_daylight_saving() -> None:
    found = runs(utc(2027, 3, 10, 0, 0), 4, daily_at="08:00", days=MWF, timezone="Asia/Kolkata")
    assert found == [
        utc(2027, 3, 10, 2, 30),
        utc(2027, 3, 12, 2, 30),
        utc(2027, 3, 15, 2, 30),
        utc(2027, 3, 17, 2, 30),
    ]


def test_the_run_is_strictly_after_now_and_late_in_the_local_day_moves_to_the_next_day() -> None:
    at_the_minute = utc(2027, 6, 1, 2, 30)  # 08:00 in Kolkata
    assert next_daily_run(now=at_the_minute, daily_at="08:00", days=None, timezone="Asia/Kolkata") == utc(
        2027, 6, 2, 2, 30
    )
    # 23:00 UTC on a Tuesday is already Wednesday 04:30 in Kolkata: Wednesday's 08:00 is next.
    assert next_daily_run(
        now=utc(2027, 6, 1, 23, 0), daily_at="08:00", days=["wed"], timezone="Asia/Kolkata"
    ) == utc(2027, 6, 2, 2, 30)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_daily_run(now=datetime(2027, 1, 1), daily_at="08:00", days=None, timezone="UTC")


@pytest.mark.parametrize(
    ("days", "label"),
    [
        (["mon", "tue", "wed", "thu", "fri"], "Weekdays at 08:00 (Europe/Paris)"),
        (None, "Every day at 08:00 (Europe/Paris)"),
        (["sat", "sun"], "Weekends at 08:00 (Europe/Paris)"),
        (["mon", "wed", "fri"], "Mon, Wed, Fri at 08:00 (Europe/Paris)"),
    ],
)
def test_labels(days: list[str] | None, label: str) -> None:
    assert describe_daily("08:00", days, "Europe/Paris") == label
