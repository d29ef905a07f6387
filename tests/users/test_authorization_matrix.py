"""Authorization matrix: every route of the app, called by every kind of caller.

Every (method, path) of ``create_app()`` must have a row in ``EXPECTATIONS``; a route without one
fails ``test_every_route_is_in_the_matrix`` by name. Adding a route? Add a row:

    ("GET", "/api/v1/things/{thing_id}"): owner_object(thing, active=False),
    ("POST", "/things"): active(form={"name": "x"}),

Kinds (who may call the route):
    public()          anyone; never 401/403, never sent to sign in
    authenticated()   signed in, UNVERIFIED included (``CurrentUser``)
    active()          signed in and ACTIVE (``ActiveUser``): UNVERIFIED -> 403
    admin()           ``AdminUser``: signed-in non-administrators -> 403
    owner_object(factory, active=...)
                      an object that belongs to the caller: another user's -> 404 (never 403);
                      ``active=True`` when the route also needs ``ActiveUser``

Options: ``json=`` (API body) or ``form=`` (page form; the CSRF token is added for you) so the
caller's request reaches the handler, and ``params=factory`` for path parameters of non-owner rows.
A factory is ``async def f(session, owner) -> dict[str, object]``: it creates what the path needs
for ``owner`` (an object of your feature: add a small one below) and returns the path parameters.

What is checked, per caller (a fresh API token for /api, a fresh session cookie for pages):
    anonymous                    API 401; pages 303 to /signin
    SUSPENDED (credentials made before the suspension)   same as anonymous
    UNVERIFIED                   403 where ACTIVE is needed, allowed otherwise
    signed-in non-admin          403 on admin routes
    another user                 404 on owner_object routes
    owner (ACTIVE; admin for admin routes)   allowed: no 401/403/404/405, no 5xx, no sign-in redirect
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import TEST_PASSWORD, current_database, make_user
from xtrack.config import Settings, get_settings, set_settings
from xtrack.db import Database, utcnow
from xtrack.executions.models import JobExecution
from xtrack.jobs.models import Job
from xtrack.notify.models import NotificationTarget
from xtrack.posts.models import SourceLimit
from xtrack.summaries.models import Summary
from xtrack.users import auth, email_links
from xtrack.users import service as users_service
from xtrack.users.models import EmailTokenPurpose, User, UserStatus
from xtrack.web.app import create_app
from xtrack.web.csrf import CSRF_COOKIE, token_for

# Served by FastAPI or Starlette themselves, not by XTrack code.
EXCLUDED = {"/static", "/docs", "/docs/assets", "/docs/oauth2-redirect", "/openapi.json", "/redoc"}

Kind = Literal["public", "authenticated", "active", "admin", "owner-object"]
Factory = Callable[[AsyncSession, User], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Expect:
    kind: Kind
    needs_active: bool = False
    factory: Factory | None = None
    json: dict[str, Any] | None = None
    form: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)


def public(**options: Any) -> Expect:
    return Expect("public", **options)


def authenticated(**options: Any) -> Expect:
    return Expect("authenticated", **options)


def active(**options: Any) -> Expect:
    return Expect("active", needs_active=True, **options)


def admin(**options: Any) -> Expect:
    return Expect("admin", needs_active=True, **options)


def owner_object(factory: Factory, *, active: bool, **options: Any) -> Expect:
    return Expect("owner-object", needs_active=active, factory=factory, **options)


# Factories: objects owned by ``owner``, returned as path parameters. -------------------------------


async def api_token(session: AsyncSession, owner: User) -> dict[str, Any]:
    token, _ = await auth.create_api_token(session, user=owner, name="matrix", now=utcnow())
    return {"token_id": token.id}


async def another_user(session: AsyncSession, owner: User) -> dict[str, Any]:
    target = await make_user(session)
    return {"user_id": target.id}


async def paused_source(session: AsyncSession, owner: User) -> dict[str, Any]:
    now = utcnow()
    session.add(
        SourceLimit(source="x", paused_until=now + timedelta(days=1), pause_reason="matrix", updated_at=now)
    )
    await session.flush()
    return {"name": "x"}


async def job(session: AsyncSession, owner: User) -> dict[str, Any]:
    row = Job(user_id=owner.id, x_username="matrix", frequency=60, topics=["ai"], next_run_at=utcnow())
    session.add(row)
    await session.flush()
    return {"job_id": row.id}


async def _execution(session: AsyncSession, owner: User) -> tuple[Job, JobExecution]:
    params = await job(session, owner)
    now = utcnow()
    row = JobExecution(
        job_id=params["job_id"],
        user_id=owner.id,
        status="FAILED",
        trigger="MANUAL",
        params={"x_username": "matrix", "topics": ["ai"]},
        created_at=now,
        started_at=now,
        completed_at=now,
        error_kind="upstream",
        error_message="matrix",
    )
    session.add(row)
    await session.flush()
    owned_job = await session.get(Job, params["job_id"])
    assert owned_job is not None
    return owned_job, row


async def execution(session: AsyncSession, owner: User) -> dict[str, Any]:
    _, row = await _execution(session, owner)
    return {"execution_id": row.id}


async def summary(session: AsyncSession, owner: User) -> dict[str, Any]:
    owned_job, run = await _execution(session, owner)
    row = Summary(
        job_id=owned_job.id,
        execution_id=run.id,
        user_id=owner.id,
        x_username="matrix",
        topics=["ai"],
        content="matrix summary",
        tweets_count=1,
    )
    session.add(row)
    await session.flush()
    return {"summary_id": row.id}


async def playground_run(session: AsyncSession, owner: User) -> dict[str, Any]:
    row = JobExecution(
        user_id=owner.id,
        status="COMPLETED",
        trigger="PLAYGROUND",
        params={"x_username": "matrix", "topics": ["ai"], "hours_back": 6, "language": "en"},
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    return {"run_id": row.id}


async def notification_target(session: AsyncSession, owner: User) -> dict[str, Any]:
    # Port 9 (discard) refuses at once: "Send test" reaches the handler and fails fast.
    from xtrack.notify.targets import store_url

    row = NotificationTarget(user_id=owner.id, kind="apprise", name="matrix")
    store_url(row, "json://127.0.0.1:9/matrix", settings=get_settings())  # encrypted, as the service does
    session.add(row)
    await session.flush()
    return {"target_id": row.id}


async def feed_token(session: AsyncSession, owner: User) -> dict[str, Any]:
    from xtrack.summaries import feeds

    row, plain = await feeds.create_token(
        session, user=owner, name="matrix", signing_key="matrix-signing-key", now=utcnow()
    )
    return {"feed_id": row.id, "token": plain}


async def job_feed(session: AsyncSession, owner: User) -> dict[str, Any]:
    return {**await feed_token(session, owner), **await job(session, owner)}


async def scheduler_heartbeat(session: AsyncSession, owner: User) -> dict[str, Any]:
    from xtrack.ops.models import SchedulerHeartbeat

    session.add(SchedulerHeartbeat(instance_id="matrix", hostname="matrix", pid=1, beat_at=utcnow()))
    await session.flush()
    return {}


PASSWORD_CHANGE = {"current_password": TEST_PASSWORD, "new_password": "another long password"}
# A user of its own: the password-change rows change the owner's password.
SIGNIN_CREDENTIALS = {"email": "matrix-signin@example.com", "password": TEST_PASSWORD}

EXPECTATIONS: dict[tuple[str, str], Expect] = {
    # Foundation
    ("GET", "/"): public(),
    ("GET", "/healthz"): public(),
    ("GET", "/connect"): authenticated(),
    # Users: API
    ("POST", "/api/v1/auth/register"): public(
        json={"email": "matrix-new@example.com", "password": "long password 1"}
    ),
    ("POST", "/api/v1/auth/verify"): public(json={"token": "unknown"}),
    ("POST", "/api/v1/auth/resend-verification"): public(json={"email": "nobody@example.com"}),
    ("POST", "/api/v1/auth/token"): public(json={**SIGNIN_CREDENTIALS, "name": "matrix"}),
    ("POST", "/api/v1/auth/password-reset/request"): public(json={"email": "nobody@example.com"}),
    ("POST", "/api/v1/auth/password-reset/confirm"): public(
        json={"token": "unknown", "password": "long password 1"}
    ),
    ("GET", "/api/v1/me"): authenticated(),
    ("PATCH", "/api/v1/me"): authenticated(json={"theme": "dark"}),
    ("POST", "/api/v1/me/password"): authenticated(json=PASSWORD_CHANGE),
    ("GET", "/api/v1/tokens"): authenticated(),
    ("DELETE", "/api/v1/tokens/{token_id}"): owner_object(api_token, active=False),
    # Users: pages
    ("GET", "/register"): public(),
    ("POST", "/register"): public(form={"email": "matrix-page@example.com", "password": "long password 1"}),
    ("GET", "/signin"): public(),
    ("POST", "/signin"): public(form=SIGNIN_CREDENTIALS),
    ("POST", "/signout"): public(),
    ("GET", "/verify"): public(query={"token": "unknown"}),
    ("POST", "/verify"): public(form={"token": "unknown"}),
    ("GET", "/verify-notice"): authenticated(),
    ("POST", "/verify-notice"): authenticated(),
    ("GET", "/reset"): public(),
    ("POST", "/reset"): public(form={"email": "nobody@example.com"}),
    ("GET", "/reset/confirm"): public(query={"token": "unknown"}),
    ("POST", "/reset/confirm"): public(form={"token": "unknown", "password": "long password 1"}),
    ("GET", "/login-link"): public(query={"token": "unknown"}),
    ("POST", "/login-link"): public(form={"token": "unknown"}),
    ("GET", "/account"): authenticated(),
    ("GET", "/account/usage"): authenticated(),
    ("POST", "/account/usage/budget"): authenticated(
        form={"monthly_budget_usd": "5", "budget_action": "offline"}
    ),
    ("POST", "/account/settings"): authenticated(form={"timezone": "UTC", "theme": "light"}),
    ("POST", "/account/password"): authenticated(form=PASSWORD_CHANGE),
    ("POST", "/account/tokens"): authenticated(form={"name": "matrix"}),
    ("POST", "/account/tokens/{token_id}/revoke"): owner_object(api_token, active=False),
    ("POST", "/account/feeds"): authenticated(form={"name": "matrix"}),
    ("POST", "/account/feeds/{feed_id}/revoke"): owner_object(feed_token, active=False),
    ("GET", "/admin"): admin(),
    ("POST", "/admin/users/{user_id}/suspend"): admin(factory=another_user),
    ("POST", "/admin/users/{user_id}/activate"): admin(factory=another_user),
    ("POST", "/admin/sources/{name}/resume"): admin(factory=paused_source),
    # Jobs
    ("GET", "/api/v1/jobs"): authenticated(),
    ("POST", "/api/v1/jobs"): active(json={"x_username": "matrix", "topics": ["ai"], "frequency": "1h"}),
    ("GET", "/api/v1/jobs/{job_id}"): owner_object(job, active=False),
    ("PATCH", "/api/v1/jobs/{job_id}"): owner_object(job, active=True, json={"topics": ["chips"]}),
    ("DELETE", "/api/v1/jobs/{job_id}"): owner_object(job, active=True),
    ("POST", "/api/v1/jobs/{job_id}/pause"): owner_object(job, active=True),
    ("POST", "/api/v1/jobs/{job_id}/resume"): owner_object(job, active=True),
    # Executions and summaries
    ("POST", "/api/v1/jobs/{job_id}/run"): owner_object(job, active=True),
    ("GET", "/api/v1/jobs/{job_id}/executions"): owner_object(job, active=False),
    ("GET", "/api/v1/executions/{execution_id}"): owner_object(execution, active=False),
    ("POST", "/api/v1/executions/{execution_id}/retry"): owner_object(execution, active=True),
    ("GET", "/api/v1/summaries/{summary_id}"): owner_object(summary, active=False),
    # Playground
    ("POST", "/api/v1/playground/runs"): active(
        json={"x_username": "matrix", "topics": ["ai"], "hours_back": 6}
    ),
    ("GET", "/api/v1/playground/runs/{run_id}"): owner_object(playground_run, active=False),
    ("GET", "/api/v1/playground/history"): authenticated(),
    ("POST", "/api/v1/playground/runs/{run_id}/save-as-job"): owner_object(
        playground_run, active=True, json={"frequency": "1h"}
    ),
    # Product pages: dashboard, jobs, runs, summaries, playground
    ("GET", "/dashboard/poll"): authenticated(),
    ("GET", "/jobs/new"): authenticated(),
    ("POST", "/jobs"): active(
        form={"x_username": "matrix", "topics": "ai", "frequency": "60", "language": "en"}
    ),
    ("GET", "/jobs/{job_id}"): owner_object(job, active=False),
    ("GET", "/jobs/{job_id}/edit"): owner_object(job, active=False),
    ("POST", "/jobs/{job_id}/edit"): owner_object(
        job,
        active=True,
        form={"x_username": "matrix", "topics": "chips", "frequency": "60", "language": "en"},
    ),
    ("GET", "/jobs/{job_id}/runs/poll"): owner_object(job, active=False),
    ("POST", "/jobs/{job_id}/run"): owner_object(job, active=True),
    ("POST", "/jobs/{job_id}/pause"): owner_object(job, active=True),
    ("POST", "/jobs/{job_id}/accounts/remove"): owner_object(job, active=True, form={"account": "matrix"}),
    ("POST", "/jobs/{job_id}/resume"): owner_object(job, active=True),
    ("GET", "/jobs/{job_id}/delete"): owner_object(job, active=False),
    ("POST", "/jobs/{job_id}/delete"): owner_object(job, active=True),
    ("GET", "/runs/{execution_id}"): owner_object(execution, active=False),
    ("GET", "/runs/{execution_id}/poll"): owner_object(execution, active=False),
    ("POST", "/runs/{execution_id}/retry"): owner_object(execution, active=True),
    ("GET", "/summaries/{summary_id}"): owner_object(summary, active=False),
    ("GET", "/playground"): authenticated(),
    ("GET", "/playground/poll"): authenticated(),
    ("POST", "/playground"): active(form={"x_username": "matrix", "topics": "ai", "hours_back": "6"}),
    ("GET", "/playground/runs/{run_id}"): owner_object(playground_run, active=False),
    ("GET", "/playground/runs/{run_id}/poll"): owner_object(playground_run, active=False),
    ("POST", "/playground/runs/{run_id}/save"): owner_object(
        playground_run, active=True, form={"frequency": "60"}
    ),
    # Notifications
    ("GET", "/api/v1/targets"): authenticated(),
    ("POST", "/api/v1/targets"): active(
        json={"kind": "apprise", "name": "matrix", "url": "json://127.0.0.1:9/x"}
    ),
    ("GET", "/api/v1/targets/{target_id}"): owner_object(notification_target, active=False),
    ("PATCH", "/api/v1/targets/{target_id}"): owner_object(
        notification_target, active=True, json={"name": "renamed"}
    ),
    ("DELETE", "/api/v1/targets/{target_id}"): owner_object(notification_target, active=True),
    ("POST", "/api/v1/targets/{target_id}/test"): owner_object(notification_target, active=True),
    ("GET", "/api/v1/jobs/{job_id}/targets"): owner_object(job, active=False),
    ("PUT", "/api/v1/jobs/{job_id}/targets"): owner_object(job, active=True, json={"target_ids": []}),
    ("GET", "/api/v1/jobs/{job_id}/deliveries"): owner_object(job, active=False),
    ("GET", "/targets"): authenticated(),
    ("POST", "/targets"): active(form={"kind": "apprise", "name": "matrix", "url": "json://127.0.0.1:9/x"}),
    ("GET", "/targets/{target_id}/edit"): owner_object(notification_target, active=False),
    ("POST", "/targets/{target_id}/edit"): owner_object(
        notification_target, active=True, form={"name": "renamed"}
    ),
    ("GET", "/targets/{target_id}/delete"): owner_object(notification_target, active=False),
    ("POST", "/targets/{target_id}/delete"): owner_object(notification_target, active=True),
    ("POST", "/targets/{target_id}/test"): owner_object(notification_target, active=True),
    ("GET", "/jobs/{job_id}/targets"): owner_object(job, active=False),
    ("POST", "/jobs/{job_id}/targets"): owner_object(job, active=True, form={"failure_threshold": "3"}),
    ("GET", "/unsubscribe"): public(query={"token": "unknown"}),
    ("POST", "/unsubscribe"): public(form={"token": "unknown"}),
    # Operations: health, metrics (loopback here: no XTRACK_METRICS_TOKEN), feeds, listing, export
    ("GET", "/readyz"): public(factory=scheduler_heartbeat),
    ("GET", "/metrics"): public(),
    ("GET", "/api/v1/summaries"): authenticated(),
    ("GET", "/api/v1/summaries/export"): authenticated(query={"format": "md"}),
    ("POST", "/api/v1/feeds"): authenticated(json={"name": "matrix"}),
    ("GET", "/api/v1/feeds"): authenticated(),
    ("DELETE", "/api/v1/feeds/{feed_id}"): owner_object(feed_token, active=False),
    ("GET", "/feeds/{token}.atom"): public(factory=feed_token),
    ("GET", "/feeds/{token}/jobs/{job_id}.atom"): public(factory=job_feed),
}


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the app serves, included routers flattened; EXCLUDED paths left out."""
    try:
        from fastapi.routing import iter_route_contexts

        contexts: list[Any] = list(iter_route_contexts(app.routes))
    except ImportError:  # older FastAPI: included routes are plain routes
        contexts = list(app.routes)
    found: set[tuple[str, str]] = set()
    for route in contexts:
        path = getattr(route, "path", None)
        if path is None or path in EXCLUDED:
            continue
        declared = set(getattr(route, "methods", None) or [])
        if declared == {"HEAD"}:
            continue  # the HEAD twin of a GET (the feeds), the same handler as the GET checked here
        methods = declared - {"HEAD", "OPTIONS"}
        assert methods, f"{path}: a mount or route without methods; add it to EXCLUDED if it is not XTrack's"
        found.update((method, path) for method in methods)
    return found


def test_every_route_is_in_the_matrix() -> None:
    routes = app_routes(create_app(get_settings()))
    missing = sorted(routes - EXPECTATIONS.keys())
    stale = sorted(EXPECTATIONS.keys() - routes)
    assert not missing, (
        "routes missing from EXPECTATIONS in tests/users/test_authorization_matrix.py: "
        + ", ".join(f"{method} {path}" for method, path in missing)
    )
    assert not stale, "EXPECTATIONS rows for routes that no longer exist: " + ", ".join(
        f"{method} {path}" for method, path in stale
    )


# The run -------------------------------------------------------------------------------------------


@dataclass
class Caller:
    name: str
    user: User | None
    api_token: str | None = None  # fixed credentials (the suspended caller's, made before suspension)
    cookie: str | None = None


class Matrix:
    def __init__(self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings) -> None:
        self.client = client
        self.session = session
        self.settings = settings
        self.failures: list[str] = []

    async def credentials(self, caller: Caller, *, api: bool) -> tuple[dict[str, str], str | None]:
        """Headers for one request, and the CSRF token that fits them."""
        if caller.user is None:
            binding = secrets.token_urlsafe(16)
            return {"Cookie": f"{CSRF_COOKIE}={binding}"}, token_for(binding, self.settings)
        if api:
            plain = caller.api_token
            if plain is None:
                _, plain = await auth.create_api_token(
                    self.session, user=caller.user, name="matrix", now=utcnow()
                )
                await self.session.commit()
            return {"Authorization": f"Bearer {plain}"}, None
        cookie = caller.cookie
        if cookie is None:
            cookie = await auth.create_web_session(
                self.session, user=caller.user, now=utcnow(), settings=get_settings()
            )
            await self.session.commit()
        return {"Cookie": f"{auth.SESSION_COOKIE}={cookie}"}, token_for(cookie, self.settings)

    async def call(
        self, method: str, path: str, expect: Expect, caller: Caller, params: dict[str, Any]
    ) -> httpx.Response:
        api = path.startswith("/api/")
        headers, csrf = await self.credentials(caller, api=api)
        url = path.format(**params)
        if api:
            return await self.client.request(
                method, url, headers=headers, json=expect.json, params=expect.query
            )
        data = {**expect.form, "csrf_token": csrf or ""} if method != "GET" else None
        return await self.client.request(method, url, headers=headers, data=data, params=expect.query)

    def check(self, label: str, response: httpx.Response, ok: bool, wanted: str) -> None:
        if response.status_code >= 500:
            ok = False
        if not ok:
            location = response.headers.get("location", "")
            self.failures.append(
                f"{label}: wanted {wanted}, got {response.status_code} {location} {response.text[:160]!r}"
            )


def _sent_to_signin(response: httpx.Response) -> bool:
    """The sign-in redirect of a protected page (a form may also redirect to /signin after success)."""
    location = response.headers.get("location", "")
    return response.status_code in (302, 303, 307) and location.startswith("/signin?next=")


def _denied_as_anonymous(path: str, response: httpx.Response) -> bool:
    if path.startswith("/api/"):
        return response.status_code == 401
    return response.status_code == 303 and _sent_to_signin(response)


def _allowed(response: httpx.Response) -> bool:
    return response.status_code not in (401, 403, 404, 405) and not _sent_to_signin(response)


async def test_authorization_matrix(db: Database, session: AsyncSession, settings: Settings) -> None:
    generous = settings.model_copy(
        update={
            "signin_rate_limit": "1000/minute",
            "register_rate_limit": "1000/minute",
            "email_rate_limit": "1000/minute",
        }
    )
    set_settings(generous)
    try:
        await _run_matrix(session, generous)
    finally:
        set_settings(settings)


async def _run_matrix(session: AsyncSession, settings: Settings) -> None:
    app = create_app(settings, database=current_database())
    assert app_routes(app) <= EXPECTATIONS.keys(), "see test_every_route_is_in_the_matrix"

    owner = await make_user(session, email="matrix-owner@example.com")
    administrator = await make_user(session, email="matrix-admin@example.com", is_admin=True)
    unverified = await make_user(session, email="matrix-unverified@example.com", status=UserStatus.UNVERIFIED)
    other = await make_user(session, email="matrix-other@example.com")
    await make_user(session, email=SIGNIN_CREDENTIALS["email"], password=SIGNIN_CREDENTIALS["password"])
    suspended_user = await make_user(session, email="matrix-suspended@example.com")
    _, suspended_token = await auth.create_api_token(
        session, user=suspended_user, name="before", now=utcnow()
    )
    suspended_cookie = await auth.create_web_session(
        session, user=suspended_user, now=utcnow(), settings=get_settings()
    )
    await users_service.suspend(session, user=suspended_user)
    # A verify link for the unverified caller, so its requests do not depend on the order of rows.
    await email_links.issue_email_token(
        session, user=unverified, purpose=EmailTokenPurpose.VERIFY, now=utcnow()
    )
    await session.commit()

    anonymous = Caller("anonymous", None)
    suspended = Caller("SUSPENDED", suspended_user, api_token=suspended_token, cookie=suspended_cookie)

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        matrix = Matrix(client, session, settings)
        for (method, path), expect in sorted(EXPECTATIONS.items(), key=lambda item: (item[0][1], item[0][0])):
            label = f"{method} {path}"
            main = administrator if expect.kind == "admin" else owner
            params = await expect.factory(session, main) if expect.factory else {}
            await session.commit()

            if expect.kind == "public":
                response = await matrix.call(method, path, expect, anonymous, params)
                matrix.check(f"{label} [anonymous]", response, _allowed(response), "public access")
                continue

            for caller in (anonymous, suspended):
                response = await matrix.call(method, path, expect, caller, params)
                wanted = "401 (API) / 303 to /signin (page)"
                matrix.check(
                    f"{label} [{caller.name}]", response, _denied_as_anonymous(path, response), wanted
                )

            unverified_params = params
            if expect.kind == "owner-object" and not expect.needs_active:
                assert expect.factory is not None
                unverified_params = await expect.factory(session, unverified)
                await session.commit()
            response = await matrix.call(
                method, path, expect, Caller("UNVERIFIED", unverified), unverified_params
            )
            if expect.needs_active:
                matrix.check(f"{label} [UNVERIFIED]", response, response.status_code == 403, "403")
            else:
                matrix.check(f"{label} [UNVERIFIED]", response, _allowed(response), "allowed")

            if expect.kind == "admin":
                response = await matrix.call(method, path, expect, Caller("non-admin", other), params)
                matrix.check(f"{label} [non-admin]", response, response.status_code == 403, "403")

            if expect.kind == "owner-object":
                response = await matrix.call(method, path, expect, Caller("another user", other), params)
                matrix.check(f"{label} [another user]", response, response.status_code == 404, "404")

            response = await matrix.call(method, path, expect, Caller("owner", main), params)
            matrix.check(f"{label} [owner]", response, _allowed(response), "allowed")

    assert not matrix.failures, "authorization matrix:\n  " + "\n  ".join(matrix.failures)
