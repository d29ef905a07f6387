from __future__ import annotations

import random
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from xtrack.backoff import backoff_delay, retry_after_seconds

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@given(attempt=st.integers(min_value=1, max_value=50), seed=st.integers(0, 10_000))
def test_backoff_is_bounded_and_never_immediate(attempt: int, seed: int) -> None:
    delay = backoff_delay(attempt, base=1.0, cap=30.0, rand=random.Random(seed))
    assert 0.5 <= delay <= 30.0


def test_backoff_ceiling_grows_exponentially() -> None:
    always_max = random.Random()
    always_max.random = lambda: 1.0  # type: ignore[method-assign]
    assert [backoff_delay(n, base=1, cap=100, rand=always_max) for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert backoff_delay(20, base=1, cap=100, rand=always_max) == 100


def test_retry_after_in_seconds_and_as_a_date() -> None:
    assert retry_after_seconds("7", now=NOW) == 7.0
    assert retry_after_seconds("Thu, 01 Jan 2026 00:00:30 GMT", now=NOW) == 30.0
    assert retry_after_seconds("garbage", now=NOW) is None
    assert retry_after_seconds(None, now=NOW) is None
