from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import auth_headers, make_job, make_user
from xtrack.config import Settings
from xtrack.db import utcnow
from xtrack.executions.models import ExecutionStatus, JobExecution, Trigger
from xtrack.jobs.models import Job
from xtrack.summaries.models import Summary
from xtrack.users.models import UserStatus


async def _headers(session: AsyncSession, **kwargs: object) -> tuple[int, dict[str, str]]:
    user = await make_user(session, **kwargs)  # type: ignore[arg-type]
    return user.id, await auth_headers(session, user)


async def test_create_normalises_input_and_is_due_at_once(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, headers = await _headers(session)
    before = utcnow()
    response = await client.post(
        "/api/v1/jobs",
        json={"x_username": "@Alice_01", "topics": ["  AI  ", "ai", "chips", ""], "frequency": "1h"},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["x_username"] == "Alice_01"
    assert body["topics"] == ["AI", "chips"]
    assert body["frequency"] == 60 and body["frequency_label"] == "1h"
    assert body["language"] == "en" and body["is_active"] is True
    assert body["last_execution_status"] is None and body["success_rate"] is None
    assert before <= datetime.fromisoformat(body["next_run_at"]) <= utcnow()


@pytest.mark.parametrize(
    ("payload", "field", "needle"),
    [
        ({"x_username": "has space"}, "x_username", "1 to 15"),
        ({"x_username": "a" * 16}, "x_username", "1 to 15"),
        ({"x_username": ""}, "x_username", "1 to 15"),
        ({"x_username": "ok", "frequency": 10}, "frequency", "at least 15"),
        ({"x_username": "ok", "frequency": "2w"}, "frequency", "presets"),
        ({"x_username": "ok", "topics": ["x" * 51]}, "topics", "at most 50"),
        ({"x_username": "ok", "topics": [f"t{i}" for i in range(21)]}, "topics", "at most 20"),
        ({"x_username": "ok", "language": "english!"}, "language", "language code"),
    ],
)
async def test_invalid_input_is_a_422_naming_the_field(
    client: httpx.AsyncClient, session: AsyncSession, payload: dict[str, object], field: str, needle: str
) -> None:
    _, headers = await _headers(session)
    response = await client.post("/api/v1/jobs", json=payload, headers=headers)
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert errors[0]["loc"][-1] == field
    assert needle in errors[0]["msg"]


async def test_job_limit_per_user_is_a_409(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "max_jobs_per_user", 2)
    _, headers = await _headers(session)
    for name in ("a", "b"):
        assert (
            await client.post("/api/v1/jobs", json={"x_username": name}, headers=headers)
        ).status_code == 201
    response = await client.post("/api/v1/jobs", json={"x_username": "c"}, headers=headers)
    assert response.status_code == 409
    assert "2 jobs" in response.json()["detail"]


async def test_unverified_users_cannot_create_jobs(client: httpx.AsyncClient, session: AsyncSession) -> None:
    _, headers = await _headers(session, status=UserStatus.UNVERIFIED)
    response = await client.post("/api/v1/jobs", json={"x_username": "alice"}, headers=headers)
    assert response.status_code == 403
    assert "Verify your email" in response.json()["detail"]
    assert (await client.get("/api/v1/jobs", headers=headers)).status_code == 200


async def test_anonymous_is_401(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/jobs")).status_code == 401
    assert (await client.post("/api/v1/jobs", json={"x_username": "a"})).status_code == 401


async def test_other_users_jobs_are_404_everywhere(client: httpx.AsyncClient, session: AsyncSession) -> None:
    job = await make_job(session)
    _, headers = await _headers(session)
    await session.commit()
    base = f"/api/v1/jobs/{job.id}"
    assert (await client.get(base, headers=headers)).status_code == 404
    assert (await client.patch(base, json={"topics": []}, headers=headers)).status_code == 404
    assert (await client.post(f"{base}/pause", headers=headers)).status_code == 404
    assert (await client.post(f"{base}/resume", headers=headers)).status_code == 404
    assert (await client.post(f"{base}/run", headers=headers)).status_code == 404
    assert (await client.delete(base, headers=headers)).status_code == 404
    assert (await client.get("/api/v1/jobs", headers=headers)).json()["items"] == []
    assert await session.get(Job, job.id) is not None


async def test_patch_changes_only_what_is_sent(client: httpx.AsyncClient, session: AsyncSession) -> None:
    owner = await make_user(session)
    job = await make_job(session, owner=owner, topics=["ai"], frequency=60)
    headers = await auth_headers(session, owner)
    response = await client.patch(f"/api/v1/jobs/{job.id}", json={"frequency": "3h"}, headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert body["frequency"] == 180 and body["topics"] == ["ai"] and body["x_username"] == "alice"
    bad = await client.patch(f"/api/v1/jobs/{job.id}", json={"frequency": 5}, headers=headers)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "frequency"


async def test_a_new_username_starts_over(client: httpx.AsyncClient, session: AsyncSession) -> None:
    owner = await make_user(session)
    job = await make_job(session, owner=owner)
    job.last_post_id = "12345"
    job.last_run = utcnow() - timedelta(hours=1)
    job.next_run_at = utcnow() + timedelta(hours=5)
    headers = await auth_headers(session, owner)
    response = await client.patch(f"/api/v1/jobs/{job.id}", json={"x_username": "bob"}, headers=headers)
    assert response.status_code == 200
    await session.refresh(job)
    assert job.x_username == "bob" and job.last_post_id is None and job.last_run is None
    assert job.next_run_at is not None and job.next_run_at <= utcnow()


async def test_pause_cancels_queued_work_and_resume_reschedules(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await make_user(session)
    job = await make_job(session, owner=owner)
    headers = await auth_headers(session, owner)
    run = await client.post(f"/api/v1/jobs/{job.id}/run", headers=headers)
    assert run.status_code == 202 and run.json()["status"] == "QUEUED"
    paused = await client.post(f"/api/v1/jobs/{job.id}/pause", headers=headers)
    assert paused.status_code == 200 and paused.json()["is_active"] is False
    execution = await session.get(JobExecution, run.json()["id"], populate_existing=True)
    assert execution is not None and execution.status == ExecutionStatus.CANCELLED.value
    assert (await client.post(f"/api/v1/jobs/{job.id}/run", headers=headers)).status_code == 409
    resumed = await client.post(f"/api/v1/jobs/{job.id}/resume", headers=headers)
    assert resumed.status_code == 200 and resumed.json()["is_active"] is True
    listed = (await client.get("/api/v1/jobs", headers=headers)).json()["items"]
    assert [item["last_execution_status"] for item in listed] == ["CANCELLED"]


async def test_delete_removes_executions_and_summaries(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await make_user(session)
    job = await make_job(session, owner=owner)
    execution = JobExecution(job_id=job.id, user_id=owner.id, status="COMPLETED", trigger="MANUAL")
    session.add(execution)
    await session.flush()
    session.add(Summary(job_id=job.id, execution_id=execution.id, user_id=owner.id, content="x"))
    headers = await auth_headers(session, owner)
    assert (await client.delete(f"/api/v1/jobs/{job.id}", headers=headers)).status_code == 204
    assert (await client.get(f"/api/v1/jobs/{job.id}", headers=headers)).status_code == 404
    assert (
        await session.scalar(
            select(func.count()).select_from(JobExecution).where(JobExecution.job_id == job.id)
        )
        == 0
    )
    assert (
        await session.scalar(select(func.count()).select_from(Summary).where(Summary.job_id == job.id)) == 0
    )


async def test_list_reports_last_status_and_success_rate_over_last_20(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await make_user(session)
    busy = await make_job(session, owner=owner, x_username="busy")
    await make_job(session, owner=owner, x_username="quiet")
    # 10 old failures fall outside the window; the newest 20 finished runs: 15 completed, 5 failed.
    statuses = ["FAILED"] * 10 + ["COMPLETED"] * 15 + ["FAILED"] * 5 + ["CANCELLED", "QUEUED"]
    session.add_all(
        JobExecution(
            job_id=busy.id,
            user_id=owner.id,
            status=status,
            trigger=Trigger.SCHEDULED.value,
            scheduled_for=utcnow() - timedelta(hours=len(statuses) - i),
        )
        for i, status in enumerate(statuses)
    )
    headers = await auth_headers(session, owner)
    items = {
        item["x_username"]: item
        for item in (await client.get("/api/v1/jobs", headers=headers)).json()["items"]
    }
    assert items["busy"]["last_execution_status"] == "QUEUED"
    assert items["busy"]["success_rate"] == 0.75
    assert items["quiet"]["last_execution_status"] is None and items["quiet"]["success_rate"] is None
    single = (await client.get(f"/api/v1/jobs/{busy.id}", headers=headers)).json()
    assert single["success_rate"] == 0.75
