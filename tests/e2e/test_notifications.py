"""Notifications in a real browser against ``xtrack serve`` (its own sender loop, local SMTP): add the
email target, send a test, choose it for a job, get the summary by email after "Run now", see the
delivery on the job page, then unsubscribe from the email's link without signing in."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Page, expect

from tests.e2e.conftest import E2E, XTrackServer, checked_page, email_text, sign_in, visit
from tests.fakes.smtp import Inbox

pytestmark = E2E

RUN_TIMEOUT = 30_000  # ms


def test_a_user_gets_summaries_by_email_and_unsubscribes_from_the_link(
    page: Page, xtrack_server: XTrackServer, mailbox: Inbox
) -> None:
    email_address = f"notify-{uuid.uuid4().hex[:8]}@example.com"
    xtrack_server.create_user(email_address)
    sign_in(page, email_address)

    # The targets page, from the main navigation: add the verified email, send it a test.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Notifications").click()
    page.wait_for_url("**/targets")
    checked_page(page, "targets-empty")
    page.get_by_role("button", name=f"Add {email_address}").click()
    expect(page.get_by_text("Target “My email” added")).to_be_visible()
    page.get_by_role("button", name=re.compile("Send test")).click()
    expect(page.get_by_text("Test sent to “My email”")).to_be_visible()
    test_mail = mailbox.wait_for(to=email_address, subject="[XTrack] Test notification")
    assert "It works." in email_text(test_mail)
    checked_page(page, "targets")

    # A job that sends to it: the first run happens at once; its summary is mailed.
    visit(page, "/jobs/new", "notify-job-new")
    page.get_by_label("Account", exact=True).fill("notify_ai")
    page.get_by_label("Topics").fill("AI")
    page.get_by_role("button", name="Create job").click()
    page.wait_for_url(re.compile(r"/jobs/\d+$"))
    job_url = page.url
    first = page.locator("#runs-live tbody tr").first.locator(".badge")
    expect(first).to_have_attribute("data-status", "COMPLETED", timeout=RUN_TIMEOUT)
    page.locator("#notifications").get_by_role("link", name="Manage notifications").click()
    page.wait_for_url(re.compile(r"/jobs/\d+/targets$"))
    page.get_by_label("My email").check()
    page.get_by_role("button", name="Save notifications").click()
    expect(page.get_by_text("Notification settings saved.")).to_be_visible()
    checked_page(page, "job-targets")

    # Point the job at another account (its history starts over, so the next run has posts) and run
    # it now: one email with the summary and an unsubscribe link.
    visit(page, f"{job_url}/edit", "notify-job-edit")
    page.get_by_label("Account", exact=True).fill("notify_chips")
    page.get_by_role("button", name=re.compile("Save")).click()
    page.wait_for_url(re.compile(r"/jobs/\d+$"))
    page.locator(".job-actions").get_by_role("button", name="Run now").click()
    summary_mail = mailbox.wait_for(to=email_address, subject="[XTrack] @notify_chips: ", timeout=30)
    text = email_text(summary_mail)
    assert "/summaries/" in text and "https://x.com/notify_chips/status/" in text
    unsubscribe = re.search(r"Unsubscribe: (\S+)", text)
    assert unsubscribe, text

    # The job page shows the delivery (a reload: the page refreshes itself once the run is done).
    visit(page, job_url, "notify-job-delivered")
    deliveries = page.locator("#notifications .deliveries-table")
    expect(deliveries.locator("tbody tr").first).to_contain_text("My email")
    expect(deliveries.locator("tbody tr").first.locator("[data-status], .badge").first).to_be_visible()

    # Unsubscribe from the link, signed out.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/$"))
    page.wait_for_load_state("networkidle")  # the home page's favicon too, before navigating on
    visit(page, unsubscribe.group(1), "unsubscribe")
    expect(page.get_by_role("heading", level=1)).to_have_text("Stop these notifications?")
    expect(page.get_by_text("@notify_chips")).to_be_visible()
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("You are unsubscribed")
    checked_page(page, "unsubscribed")

    # The owner sees it on the job page.
    sign_in(page, email_address)
    visit(page, job_url, "notify-job-unsubscribed")
    expect(page.locator("#notifications")).to_contain_text("Unsubscribed")
