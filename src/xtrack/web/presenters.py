"""How values read on a page: status badges, durations, times, frequencies, rates.

Pure functions of their arguments (``now`` is a parameter), registered as Jinja filters and
globals in ``templating.py`` so every page words things the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from xtrack.executions.models import ErrorKind, ExecutionStatus, Trigger
from xtrack.sources.handles import NETWORK_LABELS, Handle, Network, network_of, parse_handle

DASH = "—"

ERROR_KIND_WORDS: dict[str, str] = {
    ErrorKind.SOURCE_NOT_FOUND.value: "account not found",
    ErrorKind.SOURCE_UNAVAILABLE.value: "source unavailable",
    ErrorKind.SOURCE_AUTH.value: "source refused our credentials",
    ErrorKind.RATE_LIMITED.value: "rate limited",
    ErrorKind.UPSTREAM.value: "upstream error",
    ErrorKind.MALFORMED_RESPONSE.value: "unreadable response",
    ErrorKind.QUOTA_EXHAUSTED.value: "source quota used up",
    ErrorKind.BUDGET_EXHAUSTED.value: "monthly budget spent",
    ErrorKind.LLM.value: "summarizer error",
    ErrorKind.WORKER_LOST.value: "worker lost",
    ErrorKind.INTERNAL.value: "internal error",
}

TRIGGER_WORDS: dict[str, str] = {
    Trigger.SCHEDULED.value: "Scheduled",
    Trigger.MANUAL.value: "Manual",
    Trigger.PLAYGROUND.value: "Playground",
}


@dataclass(frozen=True, slots=True)
class StatusView:
    """What a status badge shows: the word(s), a CSS class (the colour) and an icon name."""

    status: str
    label: str
    css_class: str
    icon: str
    is_active: bool


class ExecutionLike(Protocol):
    @property
    def status(self) -> str: ...
    @property
    def tweets_fetched(self) -> int: ...
    @property
    def error_kind(self) -> str | None: ...
    @property
    def started_at(self) -> datetime | None: ...


def _require_aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware (XTrack times are UTC)")
    return value


def error_kind_words(kind: str | None) -> str:
    """``rate_limited`` -> "rate limited"; unknown kinds are de-underscored rather than hidden."""
    if not kind:
        return ""
    return ERROR_KIND_WORDS.get(kind, kind.replace("_", " "))


def trigger_label(trigger: str | None) -> str:
    if not trigger:
        return DASH
    return TRIGGER_WORDS.get(trigger, trigger.capitalize())


def status_view(
    status: str | ExecutionLike,
    *,
    tweets_fetched: int | None = None,
    error_kind: str | None = None,
    started_at: datetime | None = None,
    now: datetime | None = None,
) -> StatusView:
    """The one mapping from an execution's state to what its badge says.

    ``status`` is a status string or anything shaped like an execution (its other fields are then
    read from it). A running run shows its elapsed time when ``started_at`` and ``now`` are known.
    """
    if not isinstance(status, str):
        execution = status
        status = execution.status
        tweets_fetched = execution.tweets_fetched if tweets_fetched is None else tweets_fetched
        error_kind = execution.error_kind if error_kind is None else error_kind
        started_at = execution.started_at if started_at is None else started_at
    value = str(status).upper()
    if value == ExecutionStatus.QUEUED.value:
        return StatusView(value, "Queued", "status-queued", "clock", True)
    if value == ExecutionStatus.RUNNING.value:
        label = "Running"
        if started_at is not None and now is not None:
            label = f"Running · {format_duration(now - started_at)}"
        return StatusView(value, label, "status-running", "ring", True)
    if value == ExecutionStatus.COMPLETED.value:
        label = "No new posts" if not tweets_fetched else "Completed"
        return StatusView(value, label, "status-completed", "check", False)
    if value == ExecutionStatus.FAILED.value:
        words = error_kind_words(error_kind)
        return StatusView(value, f"Failed · {words}" if words else "Failed", "status-failed", "cross", False)
    if value == ExecutionStatus.CANCELLED.value:
        return StatusView(value, "Cancelled", "status-cancelled", "slash", False)
    return StatusView(value, value.capitalize() or "Unknown", "status-unknown", "clock", False)


def posts_label(status: str, tweets_fetched: int | None) -> str:
    """Posts column: a count only for completed runs, never "0 posts" on a failed one."""
    if str(status).upper() != ExecutionStatus.COMPLETED.value or tweets_fetched is None:
        return DASH
    return format_count(tweets_fetched)


def format_duration(value: timedelta | float | None) -> str:
    """``timedelta`` or seconds -> "850 ms", "4.2s", "42s", "1m 20s", "2h 5m", "3d 4h"."""
    if value is None:
        return DASH
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if math.isnan(seconds):
        return DASH
    seconds = max(seconds, 0.0)
    if seconds < 1:
        return f"{round(seconds * 1000)} ms"
    if seconds < 10:
        tenths = math.floor(seconds * 10) / 10
        return f"{tenths:.1f}s".replace(".0s", "s")
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        minutes, secs = divmod(whole, 60)
        return f"{minutes}m {secs}s" if secs else f"{minutes}m"
    if whole < 86400:
        hours, rest = divmod(whole, 3600)
        minutes = rest // 60
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, rest = divmod(whole, 86400)
    hours = rest // 3600
    return f"{days}d {hours}h" if hours else f"{days}d"


def format_duration_ms(milliseconds: int | float | None) -> str:
    """``JobExecution.duration_ms`` -> the same words as :func:`format_duration`."""
    if milliseconds is None:
        return DASH
    return format_duration(milliseconds / 1000)


def _half_up(value: float) -> int:
    """Rounding as JavaScript's Math.round does, so server and app.js agree."""
    return math.floor(value + 0.5)


def relative_time(value: datetime | None, now: datetime) -> str:
    """ "just now", "3 min ago", "in 12 min", "2 h ago", "in 3 d" (the same rules as app.js)."""
    if value is None:
        return DASH
    delta = (_require_aware(value, "value") - _require_aware(now, "now")).total_seconds()
    seconds = abs(delta)
    if seconds < 45:
        return "just now"
    if seconds < 3600:
        text = f"{max(_half_up(seconds / 60), 1)} min"
    elif seconds < 86400:
        text = f"{_half_up(seconds / 3600)} h"
    else:
        text = f"{_half_up(seconds / 86400)} d"
    return f"in {text}" if delta > 0 else f"{text} ago"


def zone_for(viewer: Any) -> tzinfo:
    """The viewer's zone: a user (its ``timezone``), an IANA name, or None; unknown names are UTC."""
    name = viewer if isinstance(viewer, str) or viewer is None else getattr(viewer, "timezone", None)
    if not name or not isinstance(name, str):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def to_local(value: datetime, viewer: Any) -> datetime:
    return _require_aware(value, "value").astimezone(zone_for(viewer))


def _zone_abbreviation(local: datetime) -> str:
    name = local.tzname() or "UTC"
    return "UTC" if name in {"UTC", "+00", "Z"} else name


def format_absolute(value: datetime | None, viewer: Any = None) -> str:
    """ "Tue 25 Nov 2025, 14:05 CET" in the viewer's zone."""
    if value is None:
        return DASH
    local = to_local(value, viewer)
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M} {_zone_abbreviation(local)}"


def format_short(value: datetime | None, viewer: Any = None, *, now: datetime | None = None) -> str:
    """Compact local time for tables: "14:05" today, "25 Nov, 14:05" this year, else with the year."""
    if value is None:
        return DASH
    local = to_local(value, viewer)
    if now is not None:
        today = to_local(now, viewer)
        if local.date() == today.date():
            return f"{local:%H:%M}"
        if local.year == today.year:
            return f"{local.day} {local:%b, %H:%M}"
    return f"{local.day} {local:%b %Y, %H:%M}"


def format_clock(value: datetime | None, viewer: Any = None) -> str:
    """Local wall-clock time, "14:00" (for "First run at 14:00 (in 12 min)")."""
    if value is None:
        return DASH
    return f"{to_local(value, viewer):%H:%M}"


def iso_utc(value: datetime | None) -> str:
    """The machine-readable form for ``<time datetime>``: "2025-11-25T13:05:00Z"."""
    if value is None:
        return ""
    utc = _require_aware(value, "value").astimezone(UTC).replace(microsecond=0)
    return utc.isoformat().replace("+00:00", "Z")


def format_frequency(minutes: int | None) -> str:
    """Job frequency in minutes -> "every 15 min", "hourly", "every 6 h", "daily", "every 2 days"."""
    if minutes is None or minutes <= 0:
        return DASH
    if minutes % 1440 == 0:
        days = minutes // 1440
        if days == 1:
            return "daily"
        if days == 7:
            return "weekly"
        return f"every {days} days"
    if minutes % 60 == 0:
        hours = minutes // 60
        return "hourly" if hours == 1 else f"every {hours} h"
    return f"every {minutes} min"


def success_rate(completed: int, total: int) -> float | None:
    """Completed over finished runs, or None before any run has finished."""
    if total <= 0:
        return None
    return max(0.0, min(1.0, completed / total))


def format_success_rate(completed: int, total: int) -> str:
    """ "100%", "83%"; never rounds up to 100% while a failure exists; "—" without runs."""
    rate = success_rate(completed, total)
    if rate is None:
        return DASH
    percent = math.floor(rate * 100) if completed < total else 100
    return f"{percent}%"


def success_rate_class(completed: int, total: int) -> str:
    """A colour for the rate: ok from 95%, warn from 75%, err below, muted without runs."""
    rate = success_rate(completed, total)
    if rate is None:
        return "muted"
    if rate >= 0.95:
        return "rate-ok"
    if rate >= 0.75:
        return "rate-warn"
    return "rate-err"


def format_count(value: int | None) -> str:
    """1234 -> "1,234"."""
    if value is None:
        return DASH
    return f"{value:,}"


def pluralize(count: int, singular: str, plural: str | None = None) -> str:
    """(1, "post") -> "1 post"; (3, "post") -> "3 posts"."""
    word = singular if count == 1 else (plural or f"{singular}s")
    return f"{count:,} {word}"


def format_cost(cost: float | None) -> str:
    """LLM cost in US dollars: "$0", "$0.0042", "$1.25"."""
    if cost is None:
        return DASH
    if cost == 0:
        return "$0"
    if cost < 0.01:
        return f"${cost:.4f}"
    return f"${cost:,.2f}"


def format_tokens(input_tokens: int | None, output_tokens: int | None) -> str:
    """ "1,234 in · 567 out"."""
    if input_tokens is None and output_tokens is None:
        return DASH
    return f"{input_tokens or 0:,} in · {output_tokens or 0:,} out"


FILTERS: dict[str, Any] = {
    "duration": format_duration,
    "duration_ms": format_duration_ms,
    "relative": relative_time,
    "absolute": format_absolute,
    "short_time": format_short,
    "clock": format_clock,
    "iso_utc": iso_utc,
    "frequency": format_frequency,
    "count": format_count,
    "cost": format_cost,
    "error_kind": error_kind_words,
    "trigger": trigger_label,
}

_NETWORK_MARKS = {
    Network.X: "\N{MATHEMATICAL DOUBLE-STRUCK CAPITAL X}",
    Network.BLUESKY: "🦋",
    Network.MASTODON: "🐘",
}


def account_view(account: str) -> dict[str, str]:
    """How an account is shown: its network (for the icon), the network's name, ``@handle`` and
    its profile page."""
    handle = parse_handle(account) or Handle(network_of(account), account.removeprefix("@"))
    return {
        "network": handle.network.value,
        "label": NETWORK_LABELS[handle.network],
        "mark": _NETWORK_MARKS[handle.network],
        "display": handle.display,
        "url": handle.profile_url,
    }


GLOBALS: dict[str, Any] = {
    "account_view": account_view,
    "status_view": status_view,
    "posts_label": posts_label,
    "success_rate": format_success_rate,
    "success_rate_class": success_rate_class,
    "pluralize": pluralize,
    "tokens": format_tokens,
}
