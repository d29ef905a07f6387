"""Back-off and retry timing, as pure functions (used by sources, LLM clients, the engine, notify)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

_RANDOM = random.Random()


def backoff_delay(
    attempt: int, *, base: float = 1.0, cap: float = 60.0, rand: random.Random | None = None
) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based): exponential with full jitter,
    at least ``base / 2`` so a retry is never immediate, never more than ``cap``."""
    if attempt < 1:
        raise ValueError("attempt is 1-based")
    ceiling = min(cap, base * 2.0 ** (attempt - 1))
    jitter = (rand or _RANDOM).random()
    return max(min(base / 2, ceiling), ceiling * jitter)


def retry_after_seconds(value: str | None, *, now: datetime) -> float | None:
    """Parse an HTTP Retry-After header (seconds or an HTTP date) into seconds from ``now``."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - now).total_seconds())


def not_before(now: datetime, delay_seconds: float) -> datetime:
    return now + timedelta(seconds=delay_seconds)
