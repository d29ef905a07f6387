"""The operator's side of a paused source: ``xtrack doctor`` says so, ``xtrack sources`` lists and
resumes it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import fresh_database_url, make_user, signed_in
from tests.foundation.test_cli import xtrack
from xtrack.config import Settings
from xtrack.db import Database, create_engine
from xtrack.ops.doctor import Mark, check_source_pause
from xtrack.posts import limits as posts_limits
from xtrack.posts.models import SourceLimit
from xtrack.sources.base import QuotaExhausted

NOW = datetime(2026, 12, 7, 20, 0, tzinfo=UTC)
CREDITS = QuotaExhausted("X API credits are used up", reset_at=datetime.now(UTC) + timedelta(hours=24))
CAP = QuotaExhausted(
    "X API monthly cap reached, resets on 2027-01-01", reset_at=datetime(2027, 1, 1, tzinfo=UTC)
)


async def test_doctor_warns_about_a_paused_source_and_how_to_resume_it(
    db: Database, session: AsyncSession, settings: Settings
) -> None:
    assert (await check_source_pause(db, settings, now=NOW)).mark is Mark.OK
    async with db.session() as pausing:
        assert await posts_limits.pause_source(pausing, db, "x", CAP, now=NOW) is True
    async with db.session() as again:  # already paused: no second notice
        assert await posts_limits.pause_source(again, db, "x", CAP, now=NOW) is False

    check = await check_source_pause(db, settings, now=NOW)

    assert check.mark is Mark.WARN and not check.failed
    assert (
        "x: X API monthly cap reached, resets on 2027-01-01 (paused until 2027-01-01 00:00 UTC)"
        in check.detail
    )
    assert "xtrack sources resume x" in check.hint
    # Past the reset it no longer counts as paused.
    assert (
        await check_source_pause(db, settings, now=datetime(2027, 1, 1, 0, 1, tzinfo=UTC))
    ).mark is Mark.OK


async def _pause(url: str) -> None:
    database = Database(create_engine(url))
    try:
        async with database.session() as session:
            await posts_limits.pause_source(
                session, database, "x", CAP, now=datetime.now(UTC) - timedelta(days=1)
            )
    finally:
        await database.dispose()


async def _limit(url: str) -> SourceLimit | None:
    database = Database(create_engine(url))
    try:
        async with database.session() as session:
            return await session.get(SourceLimit, "x")
    finally:
        await database.dispose()


def test_xtrack_sources_status_and_resume() -> None:
    url = fresh_database_url("sqlite", "sources_cli")
    env = {"XTRACK_DATABASE_URL": url}
    assert xtrack("db", "upgrade", env=env).returncode == 0
    assert "no source is paused" in xtrack("sources", "status", env=env).stdout
    asyncio.run(_pause(url))

    status = xtrack("sources", "status", env=env)
    assert status.returncode == 0
    assert "x: paused until 2027-01-01 00:00 UTC: X API monthly cap reached" in status.stdout

    resumed = xtrack("sources", "resume", "x", env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert "x resumed" in resumed.stdout
    limit = asyncio.run(_limit(url))
    assert limit is not None and limit.paused_until is None and limit.pause_reason is None

    again = xtrack("sources", "resume", "x", env=env)
    assert again.returncode == 1 and "x is not paused" in again.stderr


async def test_the_admin_page_shows_a_paused_source_and_resumes_it(
    client: httpx.AsyncClient, db: Database, session: AsyncSession
) -> None:
    admin = await make_user(session, email="root@example.com", is_admin=True)
    reader = await make_user(session)
    async with db.session() as pausing:
        await posts_limits.pause_source(pausing, db, "x", CREDITS, now=datetime.now(UTC))
    csrf = await signed_in(client, session, reader)
    refused = await client.post("/admin/sources/x/resume", data={"csrf_token": csrf})
    assert refused.status_code == 403
    csrf = await signed_in(client, session, admin)

    page = await client.get("/admin")
    assert "x is paused" in page.text and "X API credits are used up" in page.text

    resumed = await client.post("/admin/sources/x/resume", data={"csrf_token": csrf})
    assert resumed.status_code == 303
    after = await client.get("/admin")
    assert "x resumed: the next runs call it again." in after.text and "x is paused" not in after.text
    limit = await session.get(SourceLimit, "x", populate_existing=True)
    assert limit is not None and limit.paused_until is None
