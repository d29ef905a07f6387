from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from xtrack.web.charts import ChartPoint, runs_chart

NOW = datetime(2025, 11, 25, 13, 5, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}"


def make_runs(count: int, *, failed_every: int = 0) -> list[ChartPoint]:
    runs = []
    for i in range(1, count + 1):
        failed = failed_every and i % failed_every == 0
        runs.append(
            ChartPoint(
                id=i,
                status="FAILED" if failed else "COMPLETED",
                tweets_fetched=0 if failed else i % 7,
                started_at=NOW - timedelta(hours=count - i),
                duration_ms=800 + i * 100,
                error_kind="rate_limited" if failed else None,
            )
        )
    return runs


def parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))


def by_class(root: ET.Element, css: str) -> list[ET.Element]:
    return [el for el in root.iter() if css in (el.get("class") or "").split()]


def test_empty_history_renders_an_explanation_not_a_chart() -> None:
    html = str(runs_chart([]))
    assert "<svg" not in html
    assert "No runs yet" in html


def test_chart_is_well_formed_svg_without_style_attributes() -> None:
    markup = runs_chart(make_runs(8, failed_every=3), viewer="Europe/Paris", now=NOW)
    assert "style=" not in markup
    root = parse(markup)
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    title_id, desc_id = root.get("aria-labelledby", "").split()
    assert root.find(f"{SVG}title").get("id") == title_id  # type: ignore[union-attr]
    assert root.find(f"{SVG}desc").get("id") == desc_id  # type: ignore[union-attr]


def test_one_bar_per_completed_run_and_a_marker_per_failure() -> None:
    runs = make_runs(9, failed_every=3)
    root = parse(runs_chart(runs, now=NOW))
    assert len(by_class(root, "bar")) - 1 == 6  # minus the legend swatch
    assert len(by_class(root, "marker-failed")) - 1 == 3
    # every run gets a group with a <title> naming it
    groups = by_class(root, "run")
    assert len(groups) == 9
    titles = [g.find(f"{SVG}title").text for g in groups]  # type: ignore[union-attr]
    assert titles[0] is not None and titles[0].startswith("Run #1 · ")
    assert "Failed · rate limited" in (titles[2] or "")
    assert "0 posts" not in (titles[2] or "")


def test_only_the_newest_fifty_runs_oldest_first() -> None:
    runs = list(reversed(make_runs(70)))  # newest first, as history queries return them
    root = parse(runs_chart(runs, now=NOW))
    groups = by_class(root, "run")
    assert len(groups) == 50
    first = groups[0].find(f"{SVG}title").text or ""  # type: ignore[union-attr]
    last = groups[-1].find(f"{SVG}title").text or ""  # type: ignore[union-attr]
    assert first.startswith("Run #21 ") and last.startswith("Run #70 ")


def test_duration_line_has_a_point_per_timed_run_and_axes_are_labelled() -> None:
    runs = [*make_runs(4), ChartPoint(id=5, status="RUNNING", started_at=NOW)]
    root = parse(runs_chart(runs, now=NOW))
    line = by_class(root, "line")[-1]
    assert len((line.get("points") or "").split()) == 4
    assert len(by_class(root, "dot")) == 4
    ticks = [el.text for el in by_class(root, "tick-posts")]
    assert ticks == ["0", "2", "4"]  # max 3 posts -> a nice, even axis
    durations = [el.text for el in by_class(root, "tick-duration")]
    assert durations[0] == "0" and durations[-1] == "2s"
    assert len(by_class(root, "marker-other")) == 2  # the running run and the legend swatch


def test_bars_scale_to_the_axis_and_stay_inside_the_plot() -> None:
    runs = [
        ChartPoint(id=1, status="COMPLETED", tweets_fetched=10),
        ChartPoint(id=2, status="COMPLETED", tweets_fetched=5),
    ]
    root = parse(runs_chart(runs))
    bars = by_class(root, "bar")[1:]
    heights = [float(b.get("height") or 0) for b in bars]
    assert heights[0] == 2 * heights[1]
    view_height = float((root.get("viewBox") or "").split()[3])
    assert all(0 < float(b.get("y") or 0) < view_height for b in bars)


def test_text_is_escaped() -> None:
    markup = runs_chart(make_runs(2), chart_id='x"><script>')
    assert "<script>" not in markup
    parse(markup)


def test_a_few_runs_spread_over_the_plot_at_a_readable_width() -> None:
    from xtrack.web.charts import LEFT, MIN_SLOTS, RIGHT, WIDTH

    plot_w = WIDTH - LEFT - RIGHT
    for count in (1, 3, 5):
        bars = by_class(parse(runs_chart(make_runs(count), now=NOW)), "bar")[1:]
        centers = [float(b.get("x") or 0) + float(b.get("width") or 0) / 2 for b in bars]
        # Evenly over the whole plot, not packed into its left end.
        assert abs(centers[-1] - (WIDTH - RIGHT - plot_w / count / 2)) < 1, (count, centers)
        assert abs(centers[0] - (LEFT + plot_w / count / 2)) < 1, (count, centers)
        # And no wider than with a full chart's worth of runs.
        assert all(float(b.get("width") or 0) <= plot_w / MIN_SLOTS for b in bars)
