"""Feeds found the way a reader finds them (made on the Account page, linked from a job page's
head), and the dashboard on a phone."""

from __future__ import annotations

import re
import uuid

import feedparser
import httpx
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import E2E, PHONE, XTrackServer, checked_page, sign_in, visit

pytestmark = E2E

RUN_TIMEOUT = 30_000  # ms: a demo run takes well under a second; the scheduler ticks every second


def test_a_feed_made_on_the_account_page_is_linked_from_the_job_page_and_reads(
    page: Page, xtrack_server: XTrackServer
) -> None:
    email_address = f"feeds-{uuid.uuid4().hex[:8]}@example.com"
    xtrack_server.create_user(email_address)
    sign_in(page, email_address)
    visit(page, "/jobs/new", "feeds-job-form")
    page.get_by_label("Account", exact=True).fill("@feed_reader")
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
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    copy = feeds.locator("button[data-copy-target]")  # named "Copy address", then "Copied"
    expect(copy).to_have_accessible_name("Copy address")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == feed_address

    page.goto(job_url)
    link = page.locator('head link[rel="alternate"][type="application/atom+xml"]')
    expect(link).to_have_count(1)
    href = link.get_attribute("href") or ""
    job_id = job_url.rsplit("/", 1)[-1]
    assert href == feed_address.removesuffix(".atom") + f"/jobs/{job_id}.atom"
    parsed = feedparser.parse(httpx.get(href, timeout=10).content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.entries and parsed.entries[0].title.startswith("@feed_reader")
    assert not parsed.entries[0].title.startswith("@feed_reader: @feed_reader")  # the handle once

    # Revoked on the Account page: the address stops working and the job page no longer links it.
    visit(page, "/account", "account-feeds-revoke")
    feeds.get_by_role("button", name="Revoke feed my reader").click()
    checked_page(page, "account-feeds-revoked")
    expect(feeds.get_by_label("Address of my reader")).to_have_count(0)
    assert httpx.get(href, timeout=10).status_code == 404
    page.goto(job_url)
    expect(page.locator('head link[rel="alternate"]')).to_have_count(0)


def test_the_dashboard_fits_a_phone_and_badges_sit_on_their_row_s_line(
    page: Page, xtrack_server: XTrackServer
) -> None:
    email_address = f"phone-{uuid.uuid4().hex[:8]}@example.com"
    xtrack_server.create_user(email_address)
    sign_in(page, email_address)
    visit(page, "/jobs/new", "phone-job-form")
    page.get_by_label("Account", exact=True).fill("@a_long_handle_1")  # 15 characters, the most X allows
    page.get_by_label("Topics").fill("AI, chips")
    page.get_by_role("button", name="Create job").click()
    page.wait_for_url(re.compile(r"/jobs/\d+$"))
    expect(page.locator("#runs-live tbody tr").first.locator(".badge")).to_have_attribute(
        "data-status", "COMPLETED", timeout=RUN_TIMEOUT
    )
    badge = page.locator("#runs-live tbody tr").first.locator(".badge")
    row_text = page.locator("#runs-live tbody tr").first.locator("td, th").nth(1)
    _assert_same_line(badge, row_text)

    visit(page, "/", "dashboard-phone")
    page.set_viewport_size(PHONE)  # (visit's screenshots end at desktop width)
    success = page.get_by_role("columnheader", name="Success")
    box = success.bounding_box()
    assert box is not None and box["x"] + box["width"] <= PHONE["width"], box
    row = page.locator("tbody tr").first
    _assert_same_line(row.locator(".badge"), row.locator("th a.account"))


_FIRST_LINE_MIDDLE = """el => {
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  let node;
  while ((node = walker.nextNode())) {
    if (!node.textContent.trim()) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    const rect = range.getClientRects()[0];
    if (rect) return rect.top + rect.height / 2;
  }
  return null;
}"""


def _assert_same_line(badge: Locator, text: Locator) -> None:
    """The badge's word and the first line of text beside it are on one line (give or take 3 px)."""
    mine = badge.evaluate(_FIRST_LINE_MIDDLE)
    other = text.evaluate(_FIRST_LINE_MIDDLE)
    assert mine is not None and other is not None and abs(mine - other) <= 3, (mine, other)
