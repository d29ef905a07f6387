"""A new user's first visit, in a real browser against ``xtrack serve`` (demo source, extractive
summarizer, local SMTP): register, confirm the email, create a job, see its runs complete live, run
it again, read the summary, use the playground; another user gets the 404 page for that job.

Every wait is on a condition the page reaches (a status attribute, an enabled button), never a sleep.
The screenshots named dashboard, job, summary and playground are the README's (scripts/screenshots.sh).
"""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import (
    E2E,
    TEST_PASSWORD,
    XTrackServer,
    checked_page,
    expect_status,
    extract_link,
    sign_in,
    visit,
)
from tests.fakes.smtp import Inbox

pytestmark = E2E

RUN_TIMEOUT = 30_000  # ms: a demo run takes well under a second; the scheduler ticks every second


def _posts_of(row: Locator) -> int:
    """The Posts cell of a runs-table row ("—" for runs that did not complete)."""
    text = row.locator("td.num").last.inner_text().strip().replace(",", "")
    return int(text) if text.isdigit() else -1


def _register_and_verify(page: Page, mailbox: Inbox, email_address: str) -> None:
    visit(page, "/register", "journey-register")
    page.get_by_label("Email address").fill(email_address)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Create account").click()
    # The same answer whether or not the address has an account: check your email, then sign in.
    page.wait_for_url("**/signin")
    checked_page(page, "journey-check-your-email")
    expect(page.get_by_text(f"we sent a message to {email_address}")).to_be_visible()

    message = mailbox.wait_for(to=email_address, subject="Confirm your email address")
    visit(page, extract_link(message, "/verify"), "journey-verify-link")
    page.get_by_role("button", name="Confirm my email address").click()
    page.wait_for_url("**/signin")
    expect(page.get_by_text("Your email address is confirmed")).to_be_visible()
    sign_in(page, email_address)
    page.wait_for_url(re.compile(r"/$"))


def test_a_new_user_follows_an_account_and_reads_its_summaries(
    page: Page, xtrack_server: XTrackServer, mailbox: Inbox
) -> None:
    email_address = f"journey-{uuid.uuid4().hex[:8]}@example.com"
    _register_and_verify(page, mailbox, email_address)

    # The empty dashboard leads to the first job.
    checked_page(page, "dashboard-empty")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    expect(page.get_by_role("link", name="Try the playground")).to_be_visible()
    page.get_by_role("link", name="Create your first job").click()

    # Create a job; the server-side validation answers first.
    page.wait_for_url("**/jobs/new")
    page.get_by_label("Account", exact=True).fill("not a handle!")
    expect_status(page, 422, "/jobs")
    page.get_by_role("button", name="Create job").click()
    expect(page.get_by_role("alert")).to_contain_text("Account: must be an account: an X username")
    expect(page.get_by_label("Account", exact=True)).to_have_attribute("aria-invalid", "true")
    checked_page(page, "job-form-errors")
    page.get_by_label("Account", exact=True).fill("@journey_ai")
    page.get_by_label("Topics").fill("AI, chips")
    page.get_by_label("Frequency").select_option(label="Every 6 h")
    page.get_by_role("button", name="Create job").click()
    page.wait_for_url(re.compile(r"/jobs/\d+$"))
    job_url = page.url
    expect(page.get_by_role("heading", level=1)).to_have_text("@journey_ai")
    expect(page.get_by_text("Job created: @journey_ai")).to_be_visible()

    # The new job is due at once: its first run appears and completes with posts while we watch.
    first_row = page.locator("#runs-live tbody tr").first
    expect(first_row.locator(".badge")).to_have_attribute("data-status", "COMPLETED", timeout=RUN_TIMEOUT)
    expect(page.get_by_role("link", name=re.compile("Read the full summary"))).to_be_visible(
        timeout=RUN_TIMEOUT
    )
    assert _posts_of(page.locator("#runs-live tbody tr").first) > 0

    # Run now: a manual run is queued, shown live, and completes.
    run_now = page.locator(".job-actions").get_by_role("button", name="Run now")
    expect(run_now).to_be_enabled()
    run_now.click()
    flash = page.get_by_text(re.compile(r"Run #\d+ queued"))
    expect(flash).to_be_visible()
    manual_id = re.search(r"Run #(\d+) queued", flash.inner_text())
    assert manual_id is not None
    manual_badge = page.locator(f'#runs-live .badge[data-run-id="{manual_id.group(1)}"]')
    expect(manual_badge).to_have_attribute("data-status", "COMPLETED", timeout=RUN_TIMEOUT)
    expect(run_now).to_be_enabled(timeout=RUN_TIMEOUT)  # the page reloaded once nothing was active
    manual_row = page.locator(f"#run-{manual_id.group(1)}")
    expect(manual_row).to_contain_text("Manual")
    assert _posts_of(manual_row) >= 0  # completed: a count (maybe 0 new posts), never "—"
    expect(page.locator("#runs-live tbody tr")).to_have_count(2)
    expect(page.get_by_role("img", name=re.compile("Posts fetched and duration"))).to_be_visible()
    expect(page.get_by_role("img", name="Cost per day, last 30 days")).to_be_visible()
    checked_page(page, "job")

    # The summary of the first run, with the posts it cites.
    page.get_by_role("link", name=re.compile("Read the full summary")).click()
    page.wait_for_url(re.compile(r"/summaries/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Summary of @journey_ai")
    assert page.locator(".cited-posts li").count() > 0
    expect(page.get_by_role("button", name="Copy as Markdown")).to_be_visible()  # shown by live.js
    expect(page.locator("#summary-markdown")).to_have_value(re.compile(r"^## "))
    checked_page(page, "summary")

    # A playground run: live progress, the result, then the history.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Playground").click()
    page.wait_for_url("**/playground")
    expect(page.get_by_text(re.compile(r"\d+ of \d+ runs left today"))).to_be_visible()
    page.get_by_label("Account", exact=True).fill("journey_pg")
    page.get_by_label("Topics").fill("AI")
    page.get_by_label("Hours back").fill("12")
    page.get_by_role("button", name="Run", exact=True).click()
    page.wait_for_url(re.compile(r"/playground/runs/\d+$"))
    playground_run_id = page.url.rsplit("/", 1)[1]
    badge = page.locator("#playground-run-live .badge")
    expect(badge).to_have_attribute("data-status", "COMPLETED", timeout=RUN_TIMEOUT)
    expect(page.get_by_role("heading", name="Result")).to_be_visible()
    expect(page.get_by_role("button", name="Save as job")).to_be_visible()
    checked_page(page, "playground-run")

    page.get_by_role("link", name="All playground runs").click()
    page.wait_for_url(re.compile(r"/playground#history$"))
    history_row = page.locator(f"#run-{playground_run_id}")
    expect(history_row).to_contain_text("@journey_pg")
    expect(history_row.locator(".badge")).to_have_attribute("data-status", "COMPLETED")
    expect(history_row.get_by_role("link", name="Summary")).to_be_visible()
    checked_page(page, "playground")

    # The dashboard now lists the job with its last run.
    visit(page, "/", "dashboard")
    job_row = page.locator("tbody tr", has_text="@journey_ai")
    expect(job_row.locator(".badge")).to_have_attribute("data-status", "COMPLETED")
    expect(job_row).to_contain_text("100%")
    expect(job_row).to_contain_text("Every 6 h")
    assert page.title() == "Dashboard · XTrack"

    # Someone else opening that job's address gets the 404 page.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/$"))
    other = f"journey-other-{uuid.uuid4().hex[:8]}@example.com"
    xtrack_server.create_user(other)
    sign_in(page, other)
    visit(page, job_url, "job-not-yours", status=404)
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    expect(page.get_by_text("@journey_ai")).to_have_count(0)
