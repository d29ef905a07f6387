"""X-style snowflake ids: ``(milliseconds since 2010-11-04T01:42:54.657Z) << 22 | low bits``.

Every source uses them as ``external_id`` so ids order posts by time and serve as cursors; sources
without real ids (demo, RSS items without a status URL) derive one from the post's time."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

X_EPOCH_MS = 1288834974657
X_EPOCH = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=X_EPOCH_MS)
_MS = timedelta(milliseconds=1)
LOW_BITS = 22
_LOW_MASK = (1 << LOW_BITS) - 1
_STATUS_URL = re.compile(r"/status(?:es)?/(\d{1,20})")


def snowflake(created_at: datetime, low: int = 0) -> int:
    """The id of a post created at ``created_at`` (aware); ``low`` (0..2**22-1) tells apart posts of
    the same millisecond. Times before the X epoch are refused."""
    if created_at.tzinfo is None:
        raise ValueError("naive datetime refused")
    ms = (created_at - X_EPOCH) // _MS  # exact integer arithmetic, no float rounding
    if ms < 0:
        raise ValueError("time before the X snowflake epoch")
    return (ms << LOW_BITS) | (low & _LOW_MASK)


def snowflake_time(post_id: int | str) -> datetime:
    """When the post with this snowflake id was created (millisecond precision)."""
    return X_EPOCH + (int(post_id) >> LOW_BITS) * _MS


# Bluesky and Mastodon list an account's feed newest first by the time the server indexed each
# item, while XTrack orders posts by an id made from the time the author's client wrote: the two
# clocks may disagree, so reading goes this far past the cursor or the window's start.
FEED_CLOCK_SKEW = timedelta(minutes=10)


def stop_reading_before(floor: int | None, start_time: datetime | None) -> datetime | None:
    """Items older than this end the reading of a newest-first feed: the cursor's time or
    ``start_time``, whichever is later, less ``FEED_CLOCK_SKEW``; None reads to the end."""
    bounds = [start_time] if start_time is not None else []
    if floor is not None:
        bounds.append(snowflake_time(floor))
    return max(bounds) - FEED_CLOCK_SKEW if bounds else None


def status_id_from_url(url: str) -> str | None:
    """The numeric id in an X/Nitter status URL (``.../status/123``), if any."""
    match = _STATUS_URL.search(url)
    return match.group(1) if match else None
