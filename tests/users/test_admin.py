"""Suspension (service, admin page, CLI) revokes everything at once; the admin users list."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from tests.conftest import TEST_PASSWORD, auth_headers, fresh_database_url, make_user, signed_in
from xtrack import migrate
from xtrack.cli import app as cli_app
from xtrack.config import Settings, get_settings, set_settings
from xtrack.db import Database, create_engine, utcnow
from xtrack.jobs import service as jobs_service
from xtrack.jobs.models import Job
from xtrack.users import auth, service
from xtrack.users.models import ApiToken, UserStatus, WebSession


async def _credentials(session: AsyncSession, user_id: int) -> tuple[int, int]:
    tokens = await session.scalar(
        select(func.count()).select_from(ApiToken).where(ApiToken.user_id == user_id)
    )
    sessions = await session.scalar(
        select(func.count()).select_from(WebSession).where(WebSession.user_id == user_id)
    )
    return int(tokens or 0), int(sessions or 0)


async def test_suspending_revokes_every_session_and_token_at_once(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session, email="victim@example.com")
    headers = [await auth_headers(session, user) for _ in range(2)]
    cookies = [
        await auth.create_web_session(session, user=user, now=utcnow(), settings=get_settings())
        for _ in range(2)
    ]
    await session.commit()
    assert (await client.get("/api/v1/me", headers=headers[0])).status_code == 200

    await service.suspend(session, user=user)
    await session.commit()

    for header in headers:
        assert (await client.get("/api/v1/me", headers=header)).status_code == 401
    for cookie in cookies:
        page = await client.get("/account", headers={"Cookie": f"{auth.SESSION_COOKIE}={cookie}"})
        assert page.status_code == 303 and page.headers["location"].startswith("/signin")
    assert await _credentials(session, user.id) == (0, 0)
    signin = await client.post(
        "/api/v1/auth/token", json={"email": user.email, "password": TEST_PASSWORD, "name": "x"}
    )
    assert signin.status_code == 403


async def test_admin_page_lists_users_with_job_counts_and_suspends(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    admin = await make_user(session, email="root@example.com", is_admin=True)
    busy = await make_user(session, email="busy@example.com")
    await make_user(session, email="idle@example.com", status=UserStatus.UNVERIFIED)
    for name in ["a", "b", "c"]:
        session.add(Job(user_id=busy.id, x_username=name, frequency=60, topics=["ai"]))
    busy_headers = await auth_headers(session, busy)
    csrf = await signed_in(client, session, admin)

    page = await client.get("/admin")
    assert page.status_code == 200
    busy_row = page.text.split("busy@example.com")[1].split("</tr>")[0]
    idle_row = page.text.split("idle@example.com")[1].split("</tr>")[0]
    assert "<td>3</td>" in busy_row and "Suspend" in busy_row
    assert "<td>0</td>" in idle_row and "Unverified" in idle_row
    search = await client.get("/admin", params={"q": "BUSY"})
    assert "busy@example.com" in search.text and "idle@example.com" not in search.text
    by_status = await client.get("/admin", params={"status": "UNVERIFIED"})
    assert "idle@example.com" in by_status.text and "busy@example.com" not in by_status.text

    suspended = await client.post(
        f"/admin/users/{busy.id}/suspend", data={"csrf_token": csrf, "return_to": "/admin?q=busy"}
    )
    assert suspended.status_code == 303 and suspended.headers["location"] == "/admin?q=busy"
    assert (await client.get("/api/v1/me", headers=busy_headers)).status_code == 401
    after = await client.get("/admin?q=busy")
    assert "busy@example.com is suspended" in after.text and "Activate" in after.text

    activated = await client.post(f"/admin/users/{busy.id}/activate", data={"csrf_token": csrf})
    assert activated.status_code == 303
    await session.refresh(busy)
    assert busy.status == UserStatus.ACTIVE

    self_suspend = await client.post(f"/admin/users/{admin.id}/suspend", data={"csrf_token": csrf})
    assert self_suspend.status_code == 303
    assert "cannot suspend your own account" in (await client.get("/admin")).text
    await session.refresh(admin)
    assert admin.status == UserStatus.ACTIVE


async def test_admin_pages_refuse_non_admins(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session)
    other = await make_user(session)
    csrf = await signed_in(client, session, user)
    assert (await client.get("/admin")).status_code == 403
    response = await client.post(f"/admin/users/{other.id}/suspend", data={"csrf_token": csrf})
    assert response.status_code == 403
    await session.refresh(other)
    assert other.status == UserStatus.ACTIVE


async def test_user_list_counts_jobs_in_one_query(db: Database, session: AsyncSession) -> None:
    users = [await make_user(session) for _ in range(3)]
    for index, user in enumerate(users):
        for n in range(index):
            session.add(Job(user_id=user.id, x_username=f"acct{n}", frequency=60, topics=[]))
    await session.flush()
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    sync_engine = db.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", count)
    try:
        rows = await jobs_service.list_users_with_job_counts(session)
    finally:
        event.remove(sync_engine, "before_cursor_execute", count)
    counts = {row.user.id: row.jobs_count for row in rows}
    assert [counts[u.id] for u in users] == [0, 1, 2]
    assert len(statements) == 1


@pytest.fixture
def cli_database(settings: Settings) -> Iterator[str]:
    url = fresh_database_url("sqlite", "users-cli")
    migrate.upgrade(url)
    set_settings(settings.model_copy(update={"database_url": url}))
    try:
        yield url
    finally:
        set_settings(settings)


def _run(url: str, work: Any) -> Any:
    async def runner() -> Any:
        database = Database(create_engine(url, pool_size=1))
        try:
            async with database.session() as session:
                return await work(session)
        finally:
            await database.dispose()

    return asyncio.run(runner())


def test_cli_suspend_activate_make_admin(cli_database: str) -> None:
    async def setup(session: AsyncSession) -> None:
        user = await make_user(session, email="cli@example.com")
        await auth.create_api_token(session, user=user, name="x", now=utcnow())
        await auth.create_web_session(session, user=user, now=utcnow(), settings=get_settings())

    _run(cli_database, setup)
    runner = CliRunner()

    suspended = runner.invoke(cli_app, ["users", "suspend", "CLI@example.com"])
    assert suspended.exit_code == 0, suspended.output
    assert "suspended cli@example.com" in suspended.output

    async def state(session: AsyncSession) -> tuple[str, bool, tuple[int, int]]:
        user = await service.get_by_email_or_404(session, "cli@example.com")
        return user.status, user.is_admin, await _credentials(session, user.id)

    assert _run(cli_database, state) == ("SUSPENDED", False, (0, 0))
    assert runner.invoke(cli_app, ["users", "activate", "cli@example.com"]).exit_code == 0
    assert runner.invoke(cli_app, ["users", "make-admin", "cli@example.com"]).exit_code == 0
    assert _run(cli_database, state) == ("ACTIVE", True, (0, 0))

    for command in ["suspend", "activate", "make-admin"]:
        unknown = runner.invoke(cli_app, ["users", command, "nobody@example.com"])
        assert unknown.exit_code == 1
        assert unknown.stderr.strip() == "error: No user with email nobody@example.com."
