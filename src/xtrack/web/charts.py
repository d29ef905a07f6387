"""Server-rendered inline SVG charts (no JavaScript, no style attributes: classes styled by app.css)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from markupsafe import Markup, escape

from xtrack.executions.models import ExecutionStatus
from xtrack.web.presenters import format_duration, format_short, pluralize, status_view

WIDTH = 960
HEIGHT = 240
LEFT, RIGHT, TOP, BOTTOM = 44, 52, 34, 30
MAX_RUNS = 50
MIN_SLOTS = 12
NICE_SECONDS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400)


class ChartRun(Protocol):
    """What the chart reads from a run; ``JobExecution`` fits."""

    @property
    def id(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def tweets_fetched(self) -> int: ...
    @property
    def error_kind(self) -> str | None: ...
    @property
    def started_at(self) -> datetime | None: ...
    @property
    def duration_ms(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class ChartPoint:
    """A plain run for callers that hold no ``JobExecution`` (and for tests)."""

    id: int
    status: str
    tweets_fetched: int = 0
    started_at: datetime | None = None
    duration_ms: int | None = None
    error_kind: str | None = None


def _nice_count(value: float) -> int:
    """The axis maximum: 2, 4, 6, 10, 20, 40, 60, 100, ... (even, so the middle tick is whole)."""
    if value <= 2:
        return 2
    exponent = 10 ** math.floor(math.log10(value))
    for step in (2, 4, 6, 10):
        if value <= step * exponent:
            return int(step * exponent)
    return int(20 * exponent)


def _nice_seconds(value: float) -> float:
    for candidate in NICE_SECONDS:
        if value <= candidate:
            return float(candidate)
    return float(math.ceil(value / 86400) * 86400)


def _num(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _attrs(**values: Any) -> str:
    parts = []
    for name, value in values.items():
        if value is None:
            continue
        key = name.rstrip("_").replace("_", "-")
        text = _num(value) if isinstance(value, float) else str(value)
        parts.append(f'{key}="{escape(text)}"')
    return " ".join(parts)


def _rect(css: str, x: float, y: float, width: float, height: float) -> str:
    return f'<rect class="{css}" {_attrs(x=float(x), y=float(y), width=float(width), height=float(height))}/>'


def _text(content: str, x: float, y: float, *, css: str | None = None, anchor: str | None = None) -> str:
    attrs = _attrs(class_=css, text_anchor=anchor, x=float(x), y=float(y))
    return f"<text {attrs}>{escape(content)}</text>"


def _line(css: str, x1: float, y1: float, x2: float, y2: float) -> str:
    return f'<line class="{css}" {_attrs(x1=float(x1), y1=float(y1), x2=float(x2), y2=float(y2))}/>'


def _run_title(run: ChartRun, viewer: Any, now: datetime | None) -> str:
    view = status_view(run.status, tweets_fetched=run.tweets_fetched, error_kind=run.error_kind)
    parts = [f"Run #{run.id}"]
    if run.started_at is not None:
        parts.append(format_short(run.started_at, viewer, now=now))
    parts.append(view.label)
    if run.status == ExecutionStatus.COMPLETED.value:
        parts.append(pluralize(run.tweets_fetched, "post"))
    if run.duration_ms is not None:
        parts.append(format_duration(run.duration_ms / 1000))
    return " · ".join(parts)


@dataclass(frozen=True, slots=True)
class _Frame:
    """Where the marks go: the plot area, one slot per run, and the maxima of the two axes."""

    plot_w: float
    plot_h: float
    slot_w: float
    bar_w: float
    posts_max: int
    seconds_max: float

    @property
    def base_y(self) -> float:
        return TOP + self.plot_h


def runs_chart(
    runs: Iterable[ChartRun],
    *,
    viewer: Any = None,
    now: datetime | None = None,
    chart_id: str = "runs-chart",
) -> Markup:
    """Posts fetched (bars) and duration (line) over the newest 50 runs, oldest on the left.

    ``runs`` may come in any order; ``viewer`` is a user or an IANA zone name for the time labels.
    Failed, cancelled and unfinished runs get a marker below the axis rather than a bar, so a
    failure never reads as "0 posts". Returns a paragraph instead of a chart when there are no runs.
    """
    ordered: Sequence[ChartRun] = sorted(runs, key=lambda run: run.id)[-MAX_RUNS:]
    if not ordered:
        return Markup(
            '<p class="chart-empty muted">No runs yet: posts fetched and durations appear here '
            "after the first run.</p>"
        )

    completed = [r for r in ordered if r.status == ExecutionStatus.COMPLETED.value]
    failed = [r for r in ordered if r.status == ExecutionStatus.FAILED.value]
    durations = [r.duration_ms / 1000 for r in ordered if r.duration_ms is not None]
    plot_w = WIDTH - LEFT - RIGHT
    # A few runs spread over the whole plot (not packed into its left end), each bar no wider than
    # with MIN_SLOTS runs.
    slot_w = plot_w / len(ordered)
    frame = _Frame(
        plot_w=plot_w,
        plot_h=HEIGHT - TOP - BOTTOM,
        slot_w=slot_w,
        bar_w=max(min(slot_w, plot_w / MIN_SLOTS) * 0.68, 1.0),
        posts_max=_nice_count(max((r.tweets_fetched for r in completed), default=0)),
        seconds_max=_nice_seconds(max(durations, default=0.0)),
    )
    total_posts = sum(r.tweets_fetched for r in completed)

    title = f"Posts fetched and duration of the last {pluralize(len(ordered), 'run')}"
    desc = (
        f"{len(completed)} completed, {len(failed)} failed; {pluralize(total_posts, 'post')} fetched"
        + (f"; longest run {format_duration(max(durations))}" if durations else "")
        + "."
    )
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart-svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-desc">{escape(desc)}</desc>',
    ]
    out += _legend(has_failed=bool(failed), has_other=len(completed) + len(failed) < len(ordered))
    out += _axes(frame)
    out += _run_marks(ordered, frame, viewer=viewer, now=now)
    out += _time_labels(ordered, frame, viewer=viewer, now=now)
    out.append("</svg>")
    # Sanctioned Markup: every number is formatted here and every text went through escape().
    return Markup("".join(out))  # noqa: S704


def _legend(*, has_failed: bool, has_other: bool) -> list[str]:
    """The legend, in the top margin."""
    legend_y = 14
    out = ['<g class="legend" aria-hidden="true">']
    out.append(_rect("bar", LEFT, legend_y - 8, 10, 10))
    out.append(_text("Posts fetched", LEFT + 14, legend_y + 1))
    out.append(_line("line", LEFT + 110, legend_y - 3, LEFT + 126, legend_y - 3))
    out.append(_text("Duration", LEFT + 130, legend_y + 1))
    legend_x = LEFT + 200
    if has_failed:
        out.append(_rect("marker marker-failed", legend_x, legend_y - 7, 8, 8))
        out.append(_text("Failed", legend_x + 12, legend_y + 1))
        legend_x += 62
    if has_other:
        out.append(_rect("marker marker-other", legend_x, legend_y - 7, 8, 8))
        out.append(_text("Cancelled or unfinished", legend_x + 12, legend_y + 1))
    out.append("</g>")
    return out


def _axes(frame: _Frame) -> list[str]:
    """Axes and grid: posts on the left, duration on the right."""
    out = ['<g class="axes">']
    for fraction in (0.0, 0.5, 1.0):
        y = frame.base_y - fraction * frame.plot_h
        out.append(_line("axis" if fraction == 0 else "grid", LEFT, y, LEFT + frame.plot_w, y))
        posts_label = _num(frame.posts_max * fraction)
        out.append(_text(posts_label, LEFT - 6, y + 3.5, css="tick tick-posts", anchor="end"))
        seconds_label = "0" if fraction == 0 else format_duration(frame.seconds_max * fraction)
        out.append(
            _text(seconds_label, LEFT + frame.plot_w + 6, y + 3.5, css="tick tick-duration", anchor="start")
        )
    out.append("</g>")
    return out


def _run_marks(ordered: Sequence[ChartRun], frame: _Frame, *, viewer: Any, now: datetime | None) -> list[str]:
    """One group per run: its bar (or marker) and a <title> read on hover and by screen readers;
    then the duration line through the runs that have one."""
    base_y, plot_h, slot_w, bar_w = frame.base_y, frame.plot_h, frame.slot_w, frame.bar_w
    line_points: list[tuple[float, float]] = []
    out = ['<g class="runs">']
    for index, run in enumerate(ordered):
        x = LEFT + index * slot_w + (slot_w - bar_w) / 2
        center = LEFT + index * slot_w + slot_w / 2
        status_class = status_view(run.status).css_class
        out.append(f'<g class="run {status_class}"><title>{escape(_run_title(run, viewer, now))}</title>')
        if run.status == ExecutionStatus.COMPLETED.value:
            height = max(run.tweets_fetched / frame.posts_max * plot_h, 1.5)
            out.append(
                _rect("bar" if run.tweets_fetched else "bar bar-zero", x, base_y - height, bar_w, height)
            )
        else:
            kind = "marker-failed" if run.status == ExecutionStatus.FAILED.value else "marker-other"
            size = min(bar_w, 8.0)
            out.append(_rect(f"marker {kind}", center - size / 2, base_y + 4, size, size))
        # A transparent hit area so the whole column shows the title on hover.
        out.append(_rect("hit", LEFT + index * slot_w, TOP, slot_w, plot_h + 14))
        out.append("</g>")
        if run.duration_ms is not None:
            y = base_y - min(run.duration_ms / 1000 / frame.seconds_max, 1.0) * plot_h
            line_points.append((center, y))
    out.append("</g>")

    if line_points:
        points = " ".join(f"{_num(px)},{_num(py)}" for px, py in line_points)
        out.append(f'<polyline class="line" points="{points}"/>')
        out.append('<g class="dots">')
        out.extend(f'<circle class="dot" {_attrs(cx=px, cy=py, r=2.5)}/>' for px, py in line_points)
        out.append("</g>")
    return out


def _time_labels(
    ordered: Sequence[ChartRun], frame: _Frame, *, viewer: Any, now: datetime | None
) -> list[str]:
    """Time labels under the first and the last run."""
    labelled = [r for r in ordered if r.started_at is not None]
    if not labelled:
        return []
    first, last = labelled[0], labelled[-1]
    label_y = float(HEIGHT - 8)
    out = ['<g class="time-labels">']
    out.append(_text(format_short(first.started_at, viewer, now=now), LEFT, label_y, anchor="start"))
    if last is not first:
        out.append(
            _text(format_short(last.started_at, viewer, now=now), LEFT + frame.plot_w, label_y, anchor="end")
        )
    out.append("</g>")
    return out


def _nice_dollars(value: float) -> float:
    """The cost axis maximum: 1, 2 or 5 times a power of ten (at least a cent)."""
    if value <= 0.01:
        return 0.01
    exponent = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * exponent:
            return float(step * exponent)
    return float(10 * exponent)


def cost_chart(days: Sequence[tuple[date, float]], *, chart_id: str = "cost-chart") -> Markup:
    """Cost per day (bars, US dollars), oldest day first; each bar has a <title> with its day and cost."""
    total = sum(cost for _day, cost in days)
    top = _nice_dollars(max((cost for _day, cost in days), default=0.0))
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = inner_w / max(1, len(days))
    base_y = TOP + inner_h
    title = f"Cost per day, last {len(days)} days"
    costliest = max((cost for _day, cost in days), default=0.0)
    desc = f"Total ${total:.4f} over {len(days)} days; the costliest day ${costliest:.4f}."
    out = [
        '<svg xmlns="http://www.w3.org/2000/svg" class="chart-svg cost-chart" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" data-total-usd="{total:.6f}" '
        f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-desc">{escape(desc)}</desc>',
        '<g class="axes">',
        _line("axis", LEFT, base_y, LEFT + inner_w, base_y),
        _line("grid", LEFT, TOP, LEFT + inner_w, TOP),
        _text(f"${top:g}", LEFT - 6, TOP + 4, css="tick", anchor="end"),
        _text("$0", LEFT - 6, base_y + 4, css="tick", anchor="end"),
        "</g>",
        '<g class="runs">',
    ]
    for index, (day, cost) in enumerate(days):
        height = inner_h * cost / top if top else 0.0
        x = LEFT + index * slot + slot * 0.15
        out.append(f'<g class="run day"><title>{escape(day.isoformat())}: ${cost:.4f}</title>')
        out.append(_rect("bar", x, base_y - height, slot * 0.7, height))
        out.append("</g>")
    out.append("</g>")
    if days:
        out.append('<g class="time-labels">')
        out.append(_text(days[0][0].strftime("%d %b"), LEFT, HEIGHT - 8, css="tick", anchor="start"))
        out.append(_text(days[-1][0].strftime("%d %b"), LEFT + inner_w, HEIGHT - 8, css="tick", anchor="end"))
        out.append("</g>")
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 -- every interpolated text is escaped above
