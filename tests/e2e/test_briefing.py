"""A briefing in a real browser against ``xtrack serve`` (demo source, extractive summarizer):
paste five handles, choose weekdays at 08:00 in a time zone, run it now, read the one summary."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Page, expect

from tests.e2e.conftest import E2E, XTrackServer, checked_page, sign_in, visit

pytestmark = E2E

RUN_TIMEOUT = 30_000  # ms


def test_a_briefing_over_five_pasted_handles_runs_now_and_reads_as_one_summary(
    page: Page, xtrack_server: XTrackServer
) -> None:
    email_address = f"briefing-{uuid.uuid4().hex[:8]}@example.com"
    xtrack_server.create_user(email_address)
    sign_in(page, email_address)

    visit(page, "/jobs/new", "briefing-form")
    page.get_by_label("Account", exact=True).fill("@brief_one")
    page.get_by_label("More accounts").fill("@brief_two, brief_three\nhttps://x.com/brief_four @brief_five")
    page.get_by_label("Topics").fill("AI")
    page.get_by_label("Time of day").fill("08:00")
    page.get_by_label("Days").fill("weekdays")
    page.get_by_label("Time zone").fill("Europe/Paris")
    page.get_by_role("button", name="Create job").click()
    page.wait_for_url(re.compile(r"/jobs/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Briefing: @brief_one and 4 more accounts")
    expect(page.locator(".subtitle")).to_contain_text("Weekdays at 08:00 (Europe/Paris)")
    for handle in ("brief_one", "brief_two", "brief_three", "brief_four", "brief_five"):
        expect(page.locator("ul.accounts")).to_contain_text(f"@{handle}")
    checked_page(page, "briefing-job")

    # Not due until 08:00: run it now, watch it complete.
    page.locator(".job-actions").get_by_role("button", name="Run now").click()
    flash = page.get_by_text(re.compile(r"Run #\d+ queued"))
    expect(flash).to_be_visible()
    run_id = re.search(r"Run #(\d+) queued", flash.inner_text())
    assert run_id is not None
    badge = page.locator(f'#runs-live .badge[data-run-id="{run_id.group(1)}"]')
    expect(badge).to_have_attribute("data-status", "COMPLETED", timeout=RUN_TIMEOUT)

    # One summary across the five accounts, each point naming its author (and who reposted it).
    page.get_by_role("link", name=re.compile("Read the full summary")).click(timeout=RUN_TIMEOUT)
    page.wait_for_url(re.compile(r"/summaries/\d+$"))
    content = page.locator(".summary-content").first
    expect(content).to_contain_text(re.compile(r"Briefing: [\d,]+ new posts? from 5 accounts"))
    # A followed account appears as a point's author, or after "reposted by" when the point is a
    # repost (which reads as its original author's words).
    followed = set(re.findall(r"@(brief_\w+)", content.inner_text()))
    assert len(followed) >= 2, content.inner_text()
    checked_page(page, "briefing-summary")
