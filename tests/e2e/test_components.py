"""The shared macros, chart and stylesheet in a real browser, under the app's real CSP: no CSP
violations (Chromium reports inline styles as console errors), phone layout, both themes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, Route, expect

from tests.e2e.conftest import E2E, PHONE, XTrackServer, screenshot
from xtrack.web.charts import ChartPoint, runs_chart
from xtrack.web.templating import templates

pytestmark = E2E


class Run:
    def __init__(self, now: datetime, id: int, status: str, **fields: Any) -> None:
        self.id = id
        self.status = status
        self.trigger = fields.get("trigger", "SCHEDULED")
        self.tweets_fetched = fields.get("tweets_fetched", 0)
        self.error_kind = fields.get("error_kind")
        self.error_message = fields.get("error_message")
        self.created_at = now - timedelta(minutes=id * 7)
        self.queued_at = self.created_at
        self.started_at = fields.get("started_at", self.created_at + timedelta(seconds=2))
        self.completed_at = fields.get("completed_at")
        self.attempt = fields.get("attempt", 1)


def runs(now: datetime) -> list[Run]:
    """One run in every state, timed relative to ``now`` (the moment the page is rendered: the
    badges' elapsed times are computed against the browser's clock)."""
    return [
        Run(now, 1, "QUEUED", started_at=None),
        Run(now, 2, "RUNNING", started_at=now - timedelta(seconds=80), trigger="MANUAL"),
        Run(now, 3, "COMPLETED", tweets_fetched=12, completed_at=now - timedelta(minutes=20)),
        Run(now, 4, "COMPLETED", tweets_fetched=0, completed_at=now - timedelta(minutes=27)),
        Run(
            now,
            5,
            "FAILED",
            error_kind="rate_limited",
            attempt=5,
            error_message="X API rate limit reached; resets at 14:30 UTC. The run will be retried then.",
            completed_at=now - timedelta(minutes=34),
        ),
        Run(now, 6, "CANCELLED", started_at=None),
    ]


# A page made of every shared part, rendered by the app's Jinja environment.
PAGE = (Path(__file__).parent / "components.html").read_text()


def render_page() -> str:
    now = datetime.now(UTC).replace(microsecond=0)
    points = [
        ChartPoint(
            id=i,
            status="FAILED" if i % 9 == 0 else "COMPLETED",
            tweets_fetched=(i * 7) % 23,
            started_at=now - timedelta(hours=6 * (40 - i)),
            duration_ms=1500 + (i * 977) % 9000,
            error_kind="rate_limited",
        )
        for i in range(1, 41)
    ]
    chart = runs_chart(points, viewer="Europe/Paris", now=now)
    return templates.env.from_string(PAGE).render(
        runs=runs(now), chart=chart, next_run=now + timedelta(minutes=12)
    )


def open_components(page: Page, server: XTrackServer) -> None:
    csp = httpx.get(server.url("/")).headers["content-security-policy"]
    html = render_page()

    def serve(route: Route) -> None:
        route.fulfill(
            status=200, content_type="text/html", body=html, headers={"Content-Security-Policy": csp}
        )

    page.route("**/_e2e/components", serve)
    page.goto("/_e2e/components")


def test_components_render_under_the_csp_in_both_themes(page: Page, xtrack_server: XTrackServer) -> None:
    open_components(page, xtrack_server)
    expect(page.locator(".badge[data-status=RUNNING]")).to_contain_text("Running · 1m")
    expect(page.locator(".chart svg .run")).to_have_count(40)
    # The chart's colours come from the stylesheet (classes only): bars are filled with --accent.
    fill = page.locator(".chart svg .bar").nth(1).evaluate("el => getComputedStyle(el).fill")
    assert fill == "rgb(36, 86, 214)"
    screenshot(page, "components")
    page.emulate_media(color_scheme="dark")
    screenshot(page, "components-dark", phone=False)


def test_phone_width_hides_optional_columns_and_keeps_targets_large(
    page: Page, xtrack_server: XTrackServer
) -> None:
    open_components(page, xtrack_server)
    duration_header = page.get_by_role("columnheader", name="Duration")
    expect(duration_header).to_be_visible()
    page.set_viewport_size(PHONE)
    expect(duration_header).to_be_hidden()
    heights = page.locator("main .button, main button:visible").evaluate_all(
        "els => els.map(el => el.getBoundingClientRect().height)"
    )
    assert heights and min(heights) >= 44
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1
