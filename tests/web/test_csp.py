"""Every page under the strict CSP: the header is there, and the HTML has nothing the policy
would block (inline script, style attributes or elements, on* handlers, javascript: URLs) and
nothing from another origin."""

from __future__ import annotations

from html.parser import HTMLParser

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import make_user
from xtrack.config import get_settings
from xtrack.db import utcnow
from xtrack.users.auth import SESSION_COOKIE, create_web_session
from xtrack.web.app import create_app

NOT_PAGES = ("/api/", "/healthz", "/readyz", "/metrics", "/openapi.json", "/static/")


def page_paths() -> list[str]:
    """Every GET route without path parameters that is not the JSON API."""
    app = create_app(get_settings())
    paths = {
        route.path
        for route in iter_route_contexts(app.routes)  # resolves included routers and their prefixes
        if route.path
        and "GET" in (route.methods or set())
        and "{" not in route.path
        and not route.path.startswith(NOT_PAGES)
        and route.path not in NOT_PAGES
    }
    return sorted(paths)


class CspAudit(HTMLParser):
    """Collects what a strict ``script-src 'self'; style-src 'self'`` policy would refuse."""

    def __init__(self, origin: str) -> None:
        super().__init__(convert_charrefs=True)
        self.origin = origin
        self.problems: list[str] = []

    def same_origin(self, url: str) -> bool:
        return (url.startswith("/") and not url.startswith("//")) or url.startswith(self.origin + "/")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script":
            src = values.get("src")
            if src is None and values.get("type") != "application/json":
                self.problems.append("inline <script> (use a static file, or type=application/json for data)")
            if src is not None and not self.same_origin(src):
                self.problems.append(f"script from another origin: {src}")
        if tag == "style":
            self.problems.append("<style> element (use static/css/app.css)")
        if (
            tag == "link"
            and values.get("rel") == "stylesheet"
            and not self.same_origin(values.get("href") or "")
        ):
            self.problems.append(f"stylesheet from another origin: {values.get('href')}")
        for name, value in attrs:
            if name == "style":
                self.problems.append(f"style= attribute on <{tag}>")
            if name.startswith("on"):
                self.problems.append(f"{name}= handler on <{tag}>")
            if name in {"href", "src", "action", "formaction"} and (value or "").strip().lower().startswith(
                "javascript:"
            ):
                self.problems.append(f"javascript: URL in {name} on <{tag}>")


def audit_html(html: str, origin: str = "http://testserver") -> list[str]:
    parser = CspAudit(origin)
    parser.feed(html)
    return parser.problems


def check_response(path: str, response: httpx.Response) -> list[str]:
    problems: list[str] = []
    for hop in [*response.history, response]:
        csp = hop.headers.get("content-security-policy", "")
        for directive in (
            "script-src 'self'",
            "style-src 'self'",
            "object-src 'none'",
            "frame-ancestors 'none'",
        ):
            if directive not in csp:
                problems.append(f"{path} -> {hop.url.path}: CSP lacks {directive}")
        if "unsafe-inline" in csp or "unsafe-eval" in csp:
            problems.append(f"{path} -> {hop.url.path}: CSP allows unsafe code")
        if hop.headers.get("x-frame-options") != "DENY":
            problems.append(f"{path} -> {hop.url.path}: X-Frame-Options is not DENY")
        if hop.headers.get("x-content-type-options") != "nosniff":
            problems.append(f"{path} -> {hop.url.path}: X-Content-Type-Options missing")
        if not hop.headers.get("referrer-policy"):
            problems.append(f"{path} -> {hop.url.path}: Referrer-Policy missing")
    if response.status_code >= 500:
        problems.append(f"{path}: status {response.status_code}")
    if "text/html" in response.headers.get("content-type", ""):
        problems.extend(f"{path} -> {response.url.path}: {p}" for p in audit_html(response.text))
    return problems


def test_the_audit_catches_what_csp_would_block() -> None:
    bad = (
        '<script>alert(1)</script><style>p{}</style><p style="color:red" onclick="x()">'
        '<a href="javascript:void(0)">x</a><script src="https://cdn.example/x.js"></script>'
    )
    assert len(audit_html(bad)) == 6
    good = (
        '<script src="/static/js/app.js" defer></script><script type="application/json">{"a": 1}</script>'
        '<link rel="stylesheet" href="http://testserver/static/css/app.css">'
    )
    assert audit_html(good) == []


def test_there_are_pages_to_check() -> None:
    assert "/" in page_paths()


@pytest.mark.parametrize("role", ["anonymous", "user", "admin"])
async def test_every_page_is_served_under_the_strict_csp(
    client: httpx.AsyncClient, session: AsyncSession, role: str
) -> None:
    if role != "anonymous":
        user = await make_user(session, is_admin=role == "admin")
        cookie = await create_web_session(session, user=user, now=utcnow(), settings=get_settings())
        await session.commit()
        client.cookies.set(SESSION_COOKIE, cookie)
    problems: list[str] = []
    checked = 0
    for path in [*page_paths(), "/no/such/page"]:
        response = await client.get(path, follow_redirects=True)
        problems.extend(check_response(path, response))
        checked += 1
    assert checked >= 2
    assert problems == []


async def test_static_files_carry_the_headers_too(client: httpx.AsyncClient) -> None:
    for path in ["/static/css/app.css", "/static/js/app.js", "/static/js/live.js"]:
        response = await client.get(path)
        assert response.status_code == 200, path
        assert "script-src 'self'" in response.headers["content-security-policy"]
