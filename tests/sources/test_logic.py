"""The pure helpers of the integrations: snowflakes, status ids and rate-limit headers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from xtrack.sources.http import parse_rate_limit
from xtrack.sources.ids import (
    FEED_CLOCK_SKEW,
    snowflake,
    snowflake_time,
    status_id_from_url,
    stop_reading_before,
)


@given(ms=st.integers(0, 2**41 - 1), low=st.integers(0, 2**22 - 1))
def test_snowflake_round_trip_and_order(ms: int, low: int) -> None:
    when = datetime(2010, 11, 4, 1, 42, 54, 657000, tzinfo=UTC) + timedelta(milliseconds=ms)
    post_id = snowflake(when, low)
    assert snowflake_time(post_id) == when
    assert snowflake(when + timedelta(milliseconds=1), 0) > post_id


def test_known_x_id_decodes_to_its_time() -> None:
    # https://x.com/XDevelopers/status/1524796546306478083 was posted 2022-05-12T17:00:00Z
    assert snowflake_time("1524796546306478083").replace(microsecond=0) == datetime(
        2022, 5, 12, 17, 0, tzinfo=UTC
    )


def test_status_ids_from_urls() -> None:
    assert status_id_from_url("https://nitter.net/bob/status/1234567890#m") == "1234567890"
    assert status_id_from_url("https://x.com/i/web/status/42") == "42"
    assert status_id_from_url("https://blog.example/post/1") is None


def test_rate_limit_headers() -> None:
    now = datetime(2026, 11, 25, tzinfo=UTC)
    x = parse_rate_limit({"x-rate-limit-remaining": "0", "x-rate-limit-reset": "1795569000"}, now=now)
    assert x.remaining == 0 and x.reset_at == datetime.fromtimestamp(1795569000, tz=UTC)
    ietf = parse_rate_limit({"ratelimit-remaining": "7", "ratelimit-reset": "30"}, now=now)
    assert ietf.remaining == 7 and ietf.reset_at == now + timedelta(seconds=30)
    assert parse_rate_limit({}, now=now).remaining is None


def test_a_newest_first_feed_is_read_past_the_later_of_cursor_and_window_by_the_clock_skew() -> None:
    start = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    cursor_time = start + timedelta(hours=2)
    cursor = snowflake(cursor_time)
    assert stop_reading_before(None, None) is None
    assert stop_reading_before(None, start) == start - FEED_CLOCK_SKEW
    assert stop_reading_before(cursor, start) == cursor_time - FEED_CLOCK_SKEW
    assert (
        stop_reading_before(cursor, cursor_time + timedelta(hours=1))
        == cursor_time + timedelta(hours=1) - FEED_CLOCK_SKEW
    )
