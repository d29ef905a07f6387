"""The harness itself and the shared web foundation, in a real browser."""

from __future__ import annotations

import re
import smtplib
from email.message import EmailMessage

import httpx
from playwright.sync_api import Page, Route, expect

from tests.e2e.conftest import E2E, XTrackServer, checked_page, extract_link, screenshot, sign_in, visit
from tests.fakes.smtp import Inbox

pytestmark = E2E


def test_home_page_renders_without_browser_errors(page: Page) -> None:
    response = visit(page, "/", "home")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(page.get_by_role("heading", level=1)).to_contain_text("Follow X accounts")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Sign in")).to_be_visible()
    # Stylesheet applied (not blocked by the CSP): the skip link is moved off screen.
    assert page.locator(".skip-link").evaluate("el => el.getBoundingClientRect().right") < 0


def test_unknown_page_is_the_friendly_404(page: Page) -> None:
    visit(page, "/no/such/page", "not-found", status=404)
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    expect(page.get_by_role("link", name="Back to the dashboard")).to_be_visible()


def test_skip_link_is_the_first_stop_for_the_keyboard(page: Page) -> None:
    visit(page, "/", "home-keyboard")
    page.keyboard.press("Tab")
    focused = page.locator(":focus")
    expect(focused).to_have_text("Skip to content")
    assert focused.evaluate("el => el.getBoundingClientRect().left") >= 0  # visible once focused
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#main$"))  # waits: the jump is not done when press returns


def test_dark_theme_follows_the_system_setting(page: Page) -> None:
    page.emulate_media(color_scheme="dark")
    visit(page, "/", "home-dark")
    background = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
    assert background == "rgb(17, 19, 24)"
    page.emulate_media(color_scheme="light")
    background = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
    assert background == "rgb(247, 248, 250)"


def test_the_guard_reports_unexpected_errors(page: Page) -> None:
    from tests.e2e.conftest import guard_of

    page.goto("/")
    page.evaluate("console.error('boom')")
    page.wait_for_timeout(50)
    guard = guard_of(page)
    assert any("boom" in problem for problem in guard.problems)
    guard.problems.clear()


def test_mailbox_receives_and_finds_links(mailbox: Inbox) -> None:
    message = EmailMessage()
    message["From"] = "a@example.com"
    message["To"] = "harness@example.com"
    message["Subject"] = "Confirm your address"
    message.set_content("Open http://127.0.0.1:1/verify?token=abc within a day.\n")
    with smtplib.SMTP("127.0.0.1", mailbox.port, timeout=5) as smtp:
        smtp.send_message(message)
    received = mailbox.wait_for(to="harness@example.com", subject="confirm", timeout=5)
    assert extract_link(received, "/verify") == "http://127.0.0.1:1/verify?token=abc"


def test_a_cli_user_signs_in_through_the_form(page: Page, xtrack_server: XTrackServer) -> None:
    xtrack_server.create_user("cli-user@example.com")
    sign_in(page, "cli-user@example.com")
    checked_page(page, "signed-in")
    visit(page, "/account", "account")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


LIVE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>live</title>
<link rel="stylesheet" href="/static/css/app.css"></head>
<body><main id="main"><h1>Live</h1>
<div id="runs" data-poll-url="/_e2e/poll" data-poll-active="true" data-poll-since="v0"
     data-poll-interval="150">
<span class="badge status-queued" data-status="QUEUED" data-run-id="1" data-active>Queued</span>
</div>
<button type="button" class="secondary" data-copy-target="#md" hidden>
  <span data-copy-label>Copy as Markdown</span></button>
<textarea id="md" aria-label="Markdown" readonly># Summary</textarea>
</main>
<script src="/static/js/live.js" defer></script></body></html>"""


def test_live_js_swaps_fragments_under_the_csp_and_stops_when_done(
    page: Page, xtrack_server: XTrackServer
) -> None:
    """live.js against a scripted poll endpoint; the page is served with the app's real CSP."""
    csp = httpx.get(xtrack_server.url("/")).headers["content-security-policy"]
    polls: list[str] = []
    replies = [
        (
            200,
            '<span class="badge status-running" data-status="RUNNING" data-run-id="1" data-active>'
            "Running · 2s</span>",
            "true",
        ),
        (204, "", "true"),
        (
            200,
            '<span class="badge status-completed" data-status="COMPLETED" data-run-id="1">Completed</span>',
            "false",
        ),
    ]

    def serve_page(route: Route) -> None:
        route.fulfill(
            status=200, content_type="text/html", body=LIVE_PAGE, headers={"Content-Security-Policy": csp}
        )

    def serve_poll(route: Route) -> None:
        polls.append(route.request.url)
        status, body, active = replies[min(len(polls), len(replies)) - 1]
        headers = {"X-Poll-Since": f"v{len(polls)}", "X-Poll-Active": active}
        route.fulfill(status=status, body=body, content_type="text/html", headers=headers)

    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.route("**/_e2e/live", serve_page)
    page.route("**/_e2e/poll?*", serve_poll)
    page.goto("/_e2e/live")

    expect(page.locator("#runs [data-status=COMPLETED]")).to_have_text("Completed", timeout=5000)
    expect(page.get_by_role("status")).to_have_text("Run 1: Completed")
    page.wait_for_timeout(600)  # several intervals: no further polls once nothing is active
    assert len(polls) == 3
    assert [url.rsplit("since=", 1)[1] for url in polls] == ["v0", "v1", "v2"]
    assert page.locator("#runs").get_attribute("data-poll-active") == "false"

    # The copy button appears only with JavaScript and copies the Markdown.
    button = page.locator("button[data-copy-target]")
    expect(button).to_have_text("Copy as Markdown")
    expect(button).to_be_visible()
    button.click()
    expect(button).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == "# Summary"


def test_the_api_docs_render_the_openapi_3_1_schema_and_expand_an_operation(page: Page) -> None:
    # Offline and under the strict CSP: the guard fails the test on any blocked script or console error.
    response = page.goto("/docs", wait_until="load")
    assert response is not None and "script-src 'self'" in response.headers["content-security-policy"]
    paths = page.locator(".opblock-summary-path")
    expect(paths.first).to_be_visible()
    expect(page.get_by_text("Unable to render this definition")).to_have_count(0)
    jobs = page.locator(".opblock", has=page.locator(".opblock-summary-path[data-path='/api/v1/jobs']"))
    expect(jobs).to_have_count(2)  # GET (list) and POST (create)
    # Every operation of the schema the server serves is listed, those of /api/v1/jobs among them.
    schema = page.request.get("/openapi.json").json()
    published = {
        f"{method.upper()} {path}"
        for path, item in schema["paths"].items()
        for method in item
        if method in {"get", "put", "post", "delete", "patch", "head"}
    }
    listed = page.eval_on_selector_all(
        ".opblock",
        """blocks => blocks.map(block =>
            block.querySelector('.opblock-summary-method').textContent.trim() + ' ' +
            block.querySelector('.opblock-summary-path').dataset.path)""",
    )
    assert sorted(listed) == sorted(published)
    assert {op for op in listed if op.split()[1].startswith("/api/v1/jobs")} >= {
        "GET /api/v1/jobs",
        "POST /api/v1/jobs",
        "GET /api/v1/jobs/{job_id}",
        "GET /api/v1/jobs/{job_id}/executions",
    }
    path = page.locator(".opblock-summary-path[data-path='/api/v1/jobs/{job_id}/executions']")
    executions = page.locator(".opblock-get", has=path)
    executions.locator(".opblock-summary").first.click()
    expect(executions.locator(".opblock-body")).to_be_visible()
    expect(executions.locator(".parameter__name").filter(has_text="job_id")).to_be_visible()
    screenshot(page, "api-docs")
