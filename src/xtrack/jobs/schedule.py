"""When a job runs, as pure functions of ``now``: frequencies, slots, catch-up and run windows.

A job's slots lie on a grid: ``next_run_at + k * interval``. When a scheduler finds a job due it
runs ONE slot, the latest one not after ``now`` (so a gap of any length collapses into a single
catch-up run), and moves ``next_run_at`` to the first slot strictly after ``now``. The dispatcher
does the same arithmetic in SQL on PostgreSQL (``dispatcher._PG_TICK``); a test checks they agree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MIN_FREQUENCY_MINUTES = 15
MAX_FREQUENCY_MINUTES = 30 * 24 * 60
PRESETS: dict[str, int] = {"15m": 15, "30m": 30, "1h": 60, "3h": 180, "6h": 360, "12h": 720, "24h": 1440}
FIRST_RUN_WINDOW = timedelta(hours=24)
_MICROSECOND = timedelta(microseconds=1)


def _aware(name: str, value: datetime) -> None:
    if value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")


def interval(frequency_minutes: int) -> timedelta:
    return timedelta(minutes=frequency_minutes)


def parse_frequency(value: int | str) -> int:
    """Minutes between runs from an int (>= 15) or a preset such as ``"1h"``; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("must be a number of minutes or a preset")
    if isinstance(value, str):
        text = value.strip().lower()
        if text in PRESETS:
            return PRESETS[text]
        if text.endswith("m") and text[:-1].isdigit():
            text = text[:-1]
        if not (text.isascii() and text.isdigit()):  # isdigit() and int() take Arabic-Indic digits too
            presets = ", ".join(PRESETS)
            raise ValueError(f"'{value}' is not a number of minutes or one of the presets {presets}")
        minutes = int(text)
    else:
        minutes = value
    if minutes < MIN_FREQUENCY_MINUTES:
        raise ValueError(f"must be at least {MIN_FREQUENCY_MINUTES} minutes")
    if minutes > MAX_FREQUENCY_MINUTES:
        raise ValueError(f"must be at most {MAX_FREQUENCY_MINUTES} minutes (30 days)")
    return minutes


def format_frequency(minutes: int) -> str:
    """``"1h"`` for 60, ``"90m"`` for 90, ``"2d"`` for 2880."""
    if minutes % 1440 == 0 and minutes > 1440:
        return f"{minutes // 1440}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"


@dataclass(frozen=True, slots=True)
class Dispatch:
    """The slot to run now and the job's new ``next_run_at`` (always after ``now``)."""

    slot: datetime
    next_run_at: datetime


def due_slot(next_run_at: datetime, *, frequency_minutes: int, now: datetime) -> Dispatch | None:
    """The one slot a due job runs now (the latest grid slot not after ``now``) and the first slot
    after ``now``; None when the job is not due."""
    _aware("next_run_at", next_run_at)
    _aware("now", now)
    if next_run_at > now:
        return None
    step = frequency_minutes * 60_000_000
    missed = ((now - next_run_at) // _MICROSECOND) // step
    slot = next_run_at + timedelta(minutes=missed * frequency_minutes)
    return Dispatch(slot=slot, next_run_at=slot + interval(frequency_minutes))


def first_run_window(frequency_minutes: int) -> timedelta:
    """A job's first run looks back 24 hours, or one interval when that is longer."""
    return max(FIRST_RUN_WINDOW, interval(frequency_minutes))


def first_run_hours(frequency_minutes: int) -> int:
    return math.ceil(first_run_window(frequency_minutes) / timedelta(hours=1))


def window_start(*, now: datetime, frequency_minutes: int, last_run: datetime | None) -> datetime:
    """How far back a job run reaches when it has no cursor, and how far back the stored posts of
    the account must reach. The first run covers ``first_run_window`` before ``now``; later runs
    without a cursor (nothing was ever summarized) reach the same distance behind the previous run,
    which is never later than the previous window, so no unsummarized post falls out of it."""
    _aware("now", now)
    anchor = now if last_run is None else min(last_run, now)
    return anchor - first_run_window(frequency_minutes)


def playground_window_start(*, now: datetime, hours_back: int) -> datetime:
    _aware("now", now)
    return now - timedelta(hours=hours_back)


def rescheduled(
    *, current: datetime | None, last_run: datetime | None, frequency_minutes: int, now: datetime
) -> datetime:
    """``next_run_at`` after the frequency changed: one new interval after the last run (due at
    once if that is already past); a job that never ran keeps its pending first run."""
    if last_run is None:
        return current if current is not None else now
    return last_run + interval(frequency_minutes)


# A schedule at a local time: "HH:MM" on some days of the week, in an IANA time zone.
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = date.weekday()
WEEKDAYS = frozenset(DAY_NAMES[:5])
_DAY_LABELS = {
    "mon": "Mon",
    "tue": "Tue",
    "wed": "Wed",
    "thu": "Thu",
    "fri": "Fri",
    "sat": "Sat",
    "sun": "Sun",
}


def parse_daily_at(value: str) -> time:
    """``"08:00"`` -> 08:00; ValueError for anything but a 24-hour HH:MM."""
    text = value.strip()
    hours, sep, minutes = text.partition(":")
    if not (sep and len(minutes) == 2 and 1 <= len(hours) <= 2 and (hours + minutes).isascii()):
        raise ValueError("must be a time of day as HH:MM, e.g. 08:00")
    if not (hours + minutes).isdigit() or int(hours) > 23 or int(minutes) > 59:
        raise ValueError("must be a time of day as HH:MM, e.g. 08:00")
    return time(int(hours), int(minutes))


def _wall_to_utc(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of the wall time ``at`` on ``day`` in ``zone``. A wall time skipped by a
    daylight-saving change runs at the first wall time that exists after it (02:30 -> 03:00); a
    repeated one runs at its first occurrence (fold 0), so it runs once."""
    local = datetime.combine(day, at, tzinfo=zone)
    for _ in range(24 * 60):
        back = local.astimezone(UTC).astimezone(zone)
        if back.replace(tzinfo=None) == local.replace(tzinfo=None):
            return local.astimezone(UTC)
        local = (local.replace(tzinfo=None) + timedelta(minutes=1)).replace(tzinfo=zone)
    return local.astimezone(UTC)  # unreachable for real zones: gaps are at most hours


def next_daily_run(*, now: datetime, daily_at: str, days: Sequence[str] | None, timezone: str) -> datetime:
    """The first run strictly after ``now`` at ``daily_at`` local time on one of ``days`` (every day
    when None or empty) in ``timezone``, in UTC."""
    _aware("now", now)
    zone = ZoneInfo(timezone)
    at = parse_daily_at(daily_at)
    allowed = set(days or DAY_NAMES)
    today = now.astimezone(zone).date()
    for offset in range(0, 9):  # the run is within 8 local days; a day either side of a DST change
        day = today + timedelta(days=offset - 1)
        if DAY_NAMES[day.weekday()] not in allowed:
            continue
        run = _wall_to_utc(day, at, zone)
        if run > now:
            return run
    raise ValueError("days must name at least one day of the week")


def describe_daily(daily_at: str, days: Sequence[str] | None, timezone: str) -> str:
    """``"Weekdays at 08:00 (Europe/Paris)"``, ``"Every day at 07:30 (UTC)"``, ``"Mon, Wed, Fri at ..."``."""
    chosen = [day for day in DAY_NAMES if day in set(days or DAY_NAMES)]
    if len(chosen) == 7:
        when = "Every day"
    elif set(chosen) == WEEKDAYS:
        when = "Weekdays"
    elif set(chosen) == {"sat", "sun"}:
        when = "Weekends"
    else:
        when = ", ".join(day.title() for day in chosen)
    return f"{when} at {daily_at} ({timezone})"
