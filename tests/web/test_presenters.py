from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xtrack.executions.models import ErrorKind, ExecutionStatus
from xtrack.web import presenters as p

NOW = datetime(2025, 11, 25, 13, 5, tzinfo=UTC)


@dataclass
class Run:
    status: str
    tweets_fetched: int = 0
    error_kind: str | None = None
    started_at: datetime | None = None
    id: int = 1


class TestStatusView:
    def test_queued(self) -> None:
        view = p.status_view("QUEUED")
        assert (view.label, view.css_class, view.icon, view.is_active) == (
            "Queued",
            "status-queued",
            "clock",
            True,
        )

    def test_running_shows_elapsed_time(self) -> None:
        view = p.status_view("RUNNING", started_at=NOW - timedelta(seconds=80), now=NOW)
        assert view.label == "Running · 1m 20s"
        assert (view.css_class, view.icon, view.is_active) == ("status-running", "ring", True)

    def test_running_without_times_says_running(self) -> None:
        assert p.status_view("RUNNING").label == "Running"

    def test_completed_with_posts_and_without(self) -> None:
        assert p.status_view("COMPLETED", tweets_fetched=12).label == "Completed"
        empty = p.status_view("COMPLETED", tweets_fetched=0)
        assert empty.label == "No new posts"
        assert (empty.css_class, empty.icon, empty.is_active) == ("status-completed", "check", False)

    def test_failed_names_the_error_kind_in_words(self) -> None:
        view = p.status_view("FAILED", error_kind=ErrorKind.RATE_LIMITED.value)
        assert view.label == "Failed · rate limited"
        assert (view.css_class, view.icon) == ("status-failed", "cross")
        assert p.status_view("FAILED", error_kind="worker_lost").label == "Failed · worker lost"
        assert p.status_view("FAILED", error_kind="brand_new_kind").label == "Failed · brand new kind"
        assert p.status_view("FAILED").label == "Failed"

    def test_cancelled(self) -> None:
        view = p.status_view("CANCELLED")
        assert (view.label, view.css_class, view.icon) == ("Cancelled", "status-cancelled", "slash")

    def test_reads_an_execution_like_object(self) -> None:
        run = Run("FAILED", error_kind="llm")
        assert p.status_view(run).label == "Failed · summarizer error"
        running = Run("RUNNING", started_at=NOW - timedelta(minutes=2, seconds=5))
        assert p.status_view(running, now=NOW).label == "Running · 2m 5s"
        assert p.status_view(Run("COMPLETED", tweets_fetched=3)).label == "Completed"

    def test_every_error_kind_has_words(self) -> None:
        for kind in ErrorKind:
            assert "_" not in p.error_kind_words(kind.value)

    def test_every_status_maps_to_its_own_class(self) -> None:
        classes = {p.status_view(s.value).css_class for s in ExecutionStatus}
        assert len(classes) == len(ExecutionStatus)


def test_posts_label_never_shows_zero_for_a_failed_run() -> None:
    assert p.posts_label("FAILED", 0) == "—"
    assert p.posts_label("RUNNING", 0) == "—"
    assert p.posts_label("COMPLETED", 0) == "0"
    assert p.posts_label("COMPLETED", 1234) == "1,234"


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0.85, "850 ms"),
        (0.0, "0 ms"),
        (4.25, "4.2s"),
        (4.0, "4s"),
        (42.9, "42s"),
        (80, "1m 20s"),
        (120, "2m"),
        (2 * 3600 + 5 * 60 + 59, "2h 5m"),
        (3 * 3600, "3h"),
        (3 * 86400 + 4 * 3600, "3d 4h"),
        (-5, "0 ms"),
    ],
)
def test_format_duration(seconds: float, expected: str) -> None:
    assert p.format_duration(seconds) == expected
    assert p.format_duration(timedelta(seconds=seconds)) == expected


def test_format_duration_ms_and_missing_values() -> None:
    assert p.format_duration_ms(850) == "850 ms"
    assert p.format_duration_ms(80_000) == "1m 20s"
    assert p.format_duration_ms(None) == "—"
    assert p.format_duration(None) == "—"


@given(st.floats(min_value=0, max_value=10 * 86400, allow_nan=False))
def test_format_duration_is_never_empty_and_has_a_unit(seconds: float) -> None:
    text = p.format_duration(seconds)
    assert text and text[-1] in "smhd"


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(seconds=-10), "just now"),
        (timedelta(seconds=30), "just now"),
        (timedelta(minutes=-3), "3 min ago"),
        (timedelta(minutes=12), "in 12 min"),
        (timedelta(seconds=-50), "1 min ago"),
        (timedelta(hours=-2), "2 h ago"),
        (timedelta(hours=5, minutes=40), "in 6 h"),
        (timedelta(days=-3), "3 d ago"),
    ],
)
def test_relative_time(delta: timedelta, expected: str) -> None:
    assert p.relative_time(NOW + delta, NOW) == expected


def test_relative_time_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        p.relative_time(datetime(2025, 1, 1), NOW)


@given(st.integers(min_value=45, max_value=400 * 86400))
def test_relative_time_is_symmetric(seconds: int) -> None:
    past = p.relative_time(NOW - timedelta(seconds=seconds), NOW)
    future = p.relative_time(NOW + timedelta(seconds=seconds), NOW)
    assert past.endswith(" ago") and future.startswith("in ")
    assert past.removesuffix(" ago") == future.removeprefix("in ")


def test_absolute_time_in_the_viewers_zone() -> None:
    assert p.format_absolute(NOW, "Europe/Paris") == "Tue 25 Nov 2025, 14:05 CET"
    assert p.format_absolute(NOW, "America/New_York") == "Tue 25 Nov 2025, 08:05 EST"
    summer = datetime(2025, 7, 1, 12, 0, tzinfo=UTC)
    assert p.format_absolute(summer, "Europe/Paris") == "Tue 1 Jul 2025, 14:00 CEST"


def test_absolute_time_falls_back_to_utc_for_unknown_or_missing_zones() -> None:
    assert p.format_absolute(NOW, "Mars/Olympus_Mons") == "Tue 25 Nov 2025, 13:05 UTC"
    assert p.format_absolute(NOW, "../../etc/passwd") == "Tue 25 Nov 2025, 13:05 UTC"
    assert p.format_absolute(NOW, None) == "Tue 25 Nov 2025, 13:05 UTC"
    assert p.format_absolute(None) == "—"


def test_absolute_time_reads_a_users_timezone() -> None:
    @dataclass
    class Viewer:
        timezone: str

    assert p.format_absolute(NOW, Viewer("Asia/Tokyo")) == "Tue 25 Nov 2025, 22:05 JST"


def test_short_time_and_clock() -> None:
    assert p.format_short(NOW, "Europe/Paris", now=NOW) == "14:05"
    assert p.format_short(NOW - timedelta(days=2), "Europe/Paris", now=NOW) == "23 Nov, 14:05"
    assert p.format_short(NOW - timedelta(days=400), "Europe/Paris", now=NOW) == "21 Oct 2024, 15:05"
    assert p.format_clock(NOW, "Europe/Paris") == "14:05"


def test_iso_utc_is_what_time_datetime_needs() -> None:
    paris = NOW.astimezone(p.zone_for("Europe/Paris"))
    assert p.iso_utc(paris.replace(microsecond=123)) == "2025-11-25T13:05:00Z"
    assert p.iso_utc(None) == ""


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        (15, "every 15 min"),
        (90, "every 90 min"),
        (60, "hourly"),
        (360, "every 6 h"),
        (1440, "daily"),
        (2880, "every 2 days"),
        (10080, "weekly"),
        (0, "—"),
        (None, "—"),
    ],
)
def test_format_frequency(minutes: int | None, expected: str) -> None:
    assert p.format_frequency(minutes) == expected


def test_success_rate() -> None:
    assert p.format_success_rate(0, 0) == "—"
    assert p.format_success_rate(6, 6) == "100%"
    assert p.format_success_rate(5, 6) == "83%"
    assert p.format_success_rate(999, 1000) == "99%"  # a failure never rounds up to 100%
    assert p.success_rate(1, 4) == 0.25
    assert p.success_rate_class(0, 0) == "muted"
    assert p.success_rate_class(96, 100) == "rate-ok"
    assert p.success_rate_class(80, 100) == "rate-warn"
    assert p.success_rate_class(10, 100) == "rate-err"


def test_numbers_money_and_words() -> None:
    assert p.format_count(1234567) == "1,234,567"
    assert p.pluralize(1, "post") == "1 post"
    assert p.pluralize(3, "post") == "3 posts"
    assert p.pluralize(2, "summary", "summaries") == "2 summaries"
    assert p.format_cost(0) == "$0"
    assert p.format_cost(0.0042) == "$0.0042"
    assert p.format_cost(1.25) == "$1.25"
    assert p.format_cost(None) == "—"
    assert p.format_tokens(1234, 56) == "1,234 in · 56 out"
    assert p.trigger_label("MANUAL") == "Manual"
    assert p.trigger_label(None) == "—"


def test_filters_and_globals_are_registered_in_the_template_environment() -> None:
    from xtrack.web.templating import templates

    for name in p.FILTERS:
        assert name in templates.env.filters
    for name in p.GLOBALS:
        assert name in templates.env.globals
    rendered = templates.env.from_string("{{ 80|duration }} · {{ 1440|frequency }}").render()
    assert rendered == "1m 20s · daily"
