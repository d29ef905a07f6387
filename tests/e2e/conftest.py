"""Browser tests: a real ``xtrack serve`` process, a local SMTP server, Debian's Chromium.

Writing a test::

    from tests.e2e.conftest import E2E, XTrackServer, extract_link, sign_in, visit
    from tests.fakes.smtp import Inbox

    pytestmark = E2E  # e2e marker + the one xdist group, so one worker owns the server

    def test_something(page: Page, xtrack_server: XTrackServer, mailbox: Inbox) -> None:
        visit(page, "/register", "register")                       # screenshots, checks
        ...
        message = mailbox.wait_for(to="ada@example.com", subject="Confirm")
        visit(page, extract_link(message, "/verify"), "verified")

``page`` fails the test on any console error, failed request or HTTP status >= 400 that the test
did not declare (``visit(..., status=404)`` or ``expect_status(page, 404, "/path")``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, Request, Response, sync_playwright

from tests.fakes.server import free_port
from tests.fakes.smtp import Inbox, running_smtp_server

E2E = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).parent / "artifacts"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
TEST_PASSWORD = "correct horse battery staple"


# --- Email -------------------------------------------------------------------------------------


def email_text(message: EmailMessage) -> str:
    """The plain-text body (or the HTML one when there is no text part)."""
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    content = part.get_content()  # type: ignore[attr-defined]
    return str(content)


def extract_links(message: EmailMessage) -> list[str]:
    return re.findall(r"https?://[^\s<>\"')]+", email_text(message))


def extract_link(message: EmailMessage, contains: str = "") -> str:
    """The first link in the email's text containing ``contains`` (e.g. "/verify")."""
    links = [link for link in extract_links(message) if contains in link]
    assert links, f"no link containing {contains!r} in:\n{email_text(message)}"
    return links[0]


@pytest.fixture(scope="session")
def mailbox() -> Iterator[Inbox]:
    """A local SMTP server (aiosmtpd); the app under test sends every email here."""
    with running_smtp_server() as (inbox, _url):
        yield inbox


# --- The server under test --------------------------------------------------------------------


@dataclass
class XTrackServer:
    base_url: str
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes]

    def url(self, path: str) -> str:
        return self.base_url + path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def cli(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run ``xtrack ARGS`` against the same database and settings as the server."""
        result = subprocess.run(
            [sys.executable, "-m", "xtrack", *args],
            env=self.env,
            input=input,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"xtrack {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def create_user(self, email_address: str, password: str = TEST_PASSWORD, *, admin: bool = False) -> None:
        """An ACTIVE user, created through the CLI."""
        self.cli(
            "users",
            "create",
            email_address,
            "--password-stdin",
            *(["--admin"] if admin else []),
            input=password + "\n",
        )


@pytest.fixture(scope="session")
def xtrack_server(tmp_path_factory: pytest.TempPathFactory, mailbox: Inbox) -> Iterator[XTrackServer]:
    """``xtrack serve`` on a free port with a fresh SQLite database, fast timings and local SMTP."""
    root = tmp_path_factory.mktemp("e2e-server")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {name: value for name, value in os.environ.items() if not name.startswith("XTRACK_")}
    env.update(
        {
            "XTRACK_ENV": "test",
            "XTRACK_DATABASE_URL": f"sqlite+aiosqlite:///{root / 'e2e.db'}",
            "XTRACK_DATA_DIR": str(root / "data"),
            "XTRACK_SECRET_KEY": "e2e-secret-key-that-is-long-enough-0123456789",
            "XTRACK_BASE_URL": base_url,
            "XTRACK_HOST": "127.0.0.1",
            "XTRACK_PORT": str(port),
            "XTRACK_ARGON2_TIME_COST": "1",
            "XTRACK_ARGON2_MEMORY_KIB": "8",
            "XTRACK_SCHEDULER_TICK_SECONDS": "1",
            "XTRACK_SMTP_URL": f"smtp://127.0.0.1:{mailbox.port}",
            "XTRACK_EMAIL_FROM": "XTrack <xtrack@example.com>",
            "XTRACK_SIGNIN_RATE_LIMIT": "1000/minute",
            # Every browser test signs in from 127.0.0.1: the per-address limit would be spent
            # after 30 of them on a fast machine. tests/users/test_rate_limits covers it.
            "XTRACK_SIGNIN_ADDRESS_RATE_LIMIT": "1000/minute",
            # The API fuzzer calls register and the email endpoints hundreds of times on this same
            # server (one per operation since every operation runs): the browser tests after it
            # must not find those limits spent. The limits themselves are tested in tests/users.
            "XTRACK_REGISTER_RATE_LIMIT": "1000/minute",
            "XTRACK_EMAIL_RATE_LIMIT": "1000/minute",
            "XTRACK_NOTIFY_TEST_RATE_LIMIT": "1000/minute",
        }
    )
    log_path = root / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "xtrack", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    server = XTrackServer(base_url=base_url, env=env, log_path=log_path, process=process)
    try:
        _wait_until_healthy(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        shutil.copyfile(log_path, _artifacts() / "server.log")


def _wait_until_healthy(server: XTrackServer, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"xtrack serve exited with {server.process.returncode}:\n{server.log()}")
        try:
            if httpx.get(server.url("/healthz"), timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"xtrack serve not healthy after {timeout}s:\n{server.log()}")


# --- The browser ------------------------------------------------------------------------------


def _artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


# Module scope, not session: while Playwright's sync API is started, its event loop counts as
# running in this thread, so asyncio.run() and async tests scheduled after the browser tests on
# the same xdist worker would fail. Closing it after each module (~1 s) gives the thread back.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as instance:
        yield instance


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, headless; never a downloaded browser."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make chromium` (apt-get install chromium)")
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@dataclass
class Guard:
    """What went wrong in the browser, minus what the test said to expect."""

    problems: list[str] = field(default_factory=list)
    expected: list[tuple[int, str]] = field(default_factory=list)

    def is_expected(self, status: int, url: str) -> bool:
        return any(status == code and fragment in url for code, fragment in self.expected)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        url = str(message.location.get("url", ""))
        status = re.search(r"status of (\d{3})", message.text)
        if status and self.is_expected(int(status.group(1)), url):
            return
        self.problems.append(f"console error: {message.text} ({url})")

    def on_request_failed(self, request: Request) -> None:
        failure = request.failure or ""
        # A poll, or the browser's own favicon request, in flight when the page navigates away is
        # aborted by the browser, not failed.
        aborted_by_navigation = request.resource_type == "fetch" or request.url.endswith("/favicon.svg")
        if "ERR_ABORTED" in failure and aborted_by_navigation:
            return
        self.problems.append(f"request failed: {request.method} {request.url}: {failure}")

    def on_response(self, response: Response) -> None:
        if response.status >= 400 and not self.is_expected(response.status, response.url):
            self.problems.append(f"HTTP {response.status}: {response.request.method} {response.url}")

    def check(self) -> None:
        if self.problems:
            found, self.problems = self.problems, []
            pytest.fail("browser problems:\n  " + "\n  ".join(found))


_GUARDS: dict[int, Guard] = {}


def guard_of(page: Page) -> Guard:
    return _GUARDS[id(page)]


def expect_status(page: Page, status: int, url_contains: str) -> None:
    """Declare an HTTP error the test expects (it then fails neither the page nor the console check)."""
    guard_of(page).expected.append((status, url_contains))


@pytest.fixture
def page(browser: Browser, xtrack_server: XTrackServer) -> Iterator[Page]:
    """A fresh browser context on the server; fails the test on console errors and failed requests."""
    context = browser.new_context(base_url=xtrack_server.base_url, viewport=DESKTOP, locale="en-GB")
    context.set_default_timeout(10_000)
    page = context.new_page()
    guard = Guard()
    _GUARDS[id(page)] = guard
    page.on("console", guard.on_console)
    page.on("pageerror", lambda error: guard.problems.append(f"uncaught exception: {error}"))
    page.on("requestfailed", guard.on_request_failed)
    page.on("response", guard.on_response)
    try:
        yield page
        page.wait_for_timeout(100)  # let late console messages arrive
        guard.check()
    finally:
        _GUARDS.pop(id(page), None)
        context.close()


# --- Helpers ----------------------------------------------------------------------------------

_A11Y_PROBLEMS = """() => {
  const problems = [];
  if (!document.documentElement.lang) problems.push("<html> has no lang");
  if (document.querySelectorAll("h1").length !== 1) problems.push("expected exactly one <h1>");
  if (!document.querySelector("main")) problems.push("no <main>");
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden" || el.type === "submit" || el.hidden) continue;
    const named = (el.labels && el.labels.length)
      || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby");
    if (!named) problems.push(`unlabelled ${el.tagName.toLowerCase()} name=${el.name}`);
  }
  for (const el of document.querySelectorAll("button, a[href]")) {
    const name = (el.textContent || "").trim() || el.getAttribute("aria-label") || el.getAttribute("title");
    if (!name && !el.hidden) {
      problems.push(`${el.tagName.toLowerCase()} without a name: ${el.outerHTML.slice(0, 80)}`);
    }
  }
  for (const img of document.querySelectorAll("img:not([alt])")) problems.push(`img without alt: ${img.src}`);
  return problems;
}"""

_OVERFLOW = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"


def _safe_name(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_.-]+", "-", name).strip("-") or "page"


def screenshot(page: Page, name: str, *, phone: bool = True) -> None:
    """``artifacts/NAME-desktop.png`` and ``artifacts/NAME-phone.png`` of the current page."""
    base = _artifacts() / _safe_name(name)
    page.screenshot(path=f"{base}-desktop.png", full_page=True)
    if phone:
        page.set_viewport_size(PHONE)
        try:
            overflow = page.evaluate(_OVERFLOW)
            if overflow > 1:
                guard_of(page).problems.append(
                    f"{name}: page scrolls sideways by {overflow}px at phone width"
                )
            page.screenshot(path=f"{base}-phone.png", full_page=True)
        finally:
            page.set_viewport_size(DESKTOP)


def visit(page: Page, url: str, name: str, *, status: int = 200, check_a11y: bool = True) -> Response:
    """Open ``url`` (a path or the full URL from an email), check it, and screenshot it at both widths.

    Fails on an unexpected status, on browser problems so far, and on basic accessibility
    faults (labels, one h1, names on links and buttons, lang).
    """
    if status >= 400:
        expect_status(page, status, url.split("?")[0])
    response = page.goto(url, wait_until="load")
    assert response is not None, url
    assert response.status == status, f"{url}: HTTP {response.status}, expected {status}"
    checked_page(page, name, check_a11y=check_a11y)
    return response


def checked_page(page: Page, name: str, *, check_a11y: bool = True) -> None:
    """The checks and screenshots of ``visit`` for the page a click or form post led to."""
    page.wait_for_load_state("load")
    if check_a11y:
        problems = page.evaluate(_A11Y_PROBLEMS)
        assert problems == [], f"{name} ({page.url}): {problems}"
    screenshot(page, name)
    guard_of(page).check()


def sign_in(page: Page, email_address: str, password: str = TEST_PASSWORD) -> None:
    """Sign in through the form, as a person would."""
    page.goto("/signin")
    page.get_by_label("Email address").fill(email_address)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("load")
    assert "/signin" not in page.url, f"still on the sign-in page: {page.content()[:2000]}"
