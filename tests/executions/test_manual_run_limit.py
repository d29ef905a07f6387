"""XTRACK_MANUAL_RUN_LIMIT: "Run now" and retries share one per-user quota; over it the API answers
429 with Retry-After and the job and run pages say so, and nothing is queued."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import auth_headers, make_job, make_user, signed_in
from xtrack.config import Settings
from xtrack.db import Database
from xtrack.executions.models import JobExecution
from xtrack.users.models import User
from xtrack.web.app import create_app

LIMIT = "3/hour"


@pytest.fixture
async def limited(db: Database, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update={"manual_run_limit": LIMIT}), database=db)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        yield http


async def _failed_run(session: AsyncSession, owner: User) -> JobExecution:
    job = await make_job(session, owner=owner)
    failed = JobExecution(
        job_id=job.id,
        user_id=owner.id,
        status="FAILED",
        trigger="SCHEDULED",
        params={},
        error_kind="upstream",
    )
    session.add(failed)
    await session.commit()
    return failed


async def _runs(session: AsyncSession, owner: User) -> int:
    return int(await session.scalar(select(func.count()).where(JobExecution.user_id == owner.id)) or 0)


async def test_the_api_answers_429_with_retry_after_once_runs_and_retries_reach_the_limit(
    limited: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await make_user(session)
    headers = await auth_headers(session, owner)
    jobs = [await make_job(session, owner=owner) for _ in range(3)]
    failed = await _failed_run(session, owner)
    for job in jobs[:2]:
        assert (await limited.post(f"/api/v1/jobs/{job.id}/run", headers=headers)).status_code == 202
    assert (await limited.post(f"/api/v1/executions/{failed.id}/retry", headers=headers)).status_code == 202
    before = await _runs(session, owner)

    refused = await limited.post(f"/api/v1/jobs/{jobs[2].id}/run", headers=headers)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600
    assert "manual runs and retries" in refused.json()["detail"] and LIMIT in refused.json()["detail"]
    retry = await limited.post(
        f"/api/v1/executions/{(await _failed_run(session, owner)).id}/retry", headers=headers
    )
    assert retry.status_code == 429
    assert await _runs(session, owner) == before + 1  # only the new failed row: nothing was queued

    # The quota is the user's: someone else still runs.
    other = await make_user(session)
    other_job = await make_job(session, owner=other)
    other_headers = await auth_headers(session, other)
    assert (await limited.post(f"/api/v1/jobs/{other_job.id}/run", headers=other_headers)).status_code == 202


async def test_the_job_and_run_pages_say_why_nothing_ran(
    limited: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await make_user(session)
    csrf = await signed_in(limited, session, owner)
    jobs = [await make_job(session, owner=owner) for _ in range(4)]
    for job in jobs[:3]:
        assert (await limited.post(f"/jobs/{job.id}/run", data={"csrf_token": csrf})).status_code == 303

    refused = await limited.post(f"/jobs/{jobs[3].id}/run", data={"csrf_token": csrf}, follow_redirects=True)
    assert refused.status_code == 200 and str(refused.url).endswith(f"/jobs/{jobs[3].id}")
    assert "manual runs and retries allowed" in refused.text and "Try again in" in refused.text

    failed = await _failed_run(session, owner)
    retried = await limited.post(f"/runs/{failed.id}/retry", data={"csrf_token": csrf}, follow_redirects=True)
    assert retried.status_code == 200 and str(retried.url).endswith(f"/runs/{failed.id}")
    assert "manual runs and retries allowed" in retried.text
