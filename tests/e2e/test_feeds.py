"""Feeds found the way a reader finds them: made on the Account page, linked from a job page's head."""

from __future__ import annotations

import re
import uuid

import feedparser
import httpx
from playwright.sync_api import Page, expect

from tests.e2e.conftest import E2E, XTrackServer, checked_page, sign_in, visit

pytestmark = E2E

RUN_TIMEOUT = 30_000  # ms: a demo run takes well under a second; the scheduler ticks every second


def test_a_feed_made_on_the_account_page_is_linked_from_the_job_page_and_reads(
    page: Page, xtrack_server: XTrackServer
) -> None:
    email_address = f"feeds-{uuid.uuid4().hex[:8]}@example.com"
    xtrack_server.create_user(email_address)
    sign_in(page, email_address)
    visit(page, "/jobs/new", "feeds-job-form")
    page.get_by_label("X account").fill("@feed_reader")
    page.get_by_role("button", name="Create job").click()
    page.wait_for_url(re.compile(r"/jobs/\d+$"))
    job_url = page.url
    expect(page.locator("#runs-live tbody tr").first.locator(".badge")).to_have_attribute(
        "data-status", "COMPLETED", timeout=RUN_TIMEOUT
    )
    assert page.locator('head link[rel="alternate"]').count() == 0  # no feed yet

    visit(page, "/account", "account-feeds-empty")
    feeds = page.get_by_role("region", name="Feeds")
    feeds.get_by_label("Name").fill("my reader")
    feeds.get_by_role("button", name="Create feed").click()
    checked_page(page, "account-feeds")
    address = feeds.get_by_label("Address of my reader")
    expect(address).to_have_value(re.compile(r"^http://127\.0\.0\.1:\d+/feeds/xf_[\w-]+\.atom$"))
    feed_address = address.input_value()

    page.goto(job_url)
    link = page.locator('head link[rel="alternate"][type="application/atom+xml"]')
    expect(link).to_have_count(1)
    href = link.get_attribute("href") or ""
    job_id = job_url.rsplit("/", 1)[-1]
    assert href == feed_address.removesuffix(".atom") + f"/jobs/{job_id}.atom"
    parsed = feedparser.parse(httpx.get(href, timeout=10).content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.entries and parsed.entries[0].title.startswith("@feed_reader")
