from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import auth_headers, make_job, make_user
from tests.executions.conftest import RecordingExecutor
from xtrack.executions.models import JobExecution
from xtrack.executions.schemas import ExecutionPage, ExecutionRead
from xtrack.summaries.models import Summary
from xtrack.users.models import UserStatus

T0 = datetime(2026, 11, 25, 12, tzinfo=UTC)


async def test_history_is_owner_only_and_anonymous_is_401(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    job = await make_job(session)
    stranger = await make_user(session)
    headers = await auth_headers(session, stranger)
    url = f"/api/v1/jobs/{job.id}/executions"
    assert (await client.get(url)).status_code == 401
    response = await client.get(url, headers=headers)
    assert response.status_code == 404 and response.json() == {"detail": "Job not found."}
    assert (await client.get("/api/v1/jobs/999999/executions", headers=headers)).status_code == 404


async def test_history_paginates_500_executions_without_gaps_or_repeats(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await make_user(session)
    job = await make_job(session, owner=owner)
    other = await make_job(session, owner=owner, x_username="other")
    rows = [
        {
            "job_id": job.id if i % 5 else other.id,  # other jobs' rows interleave and never show up
            "user_id": owner.id,
            "status": "FAILED" if i % 7 == 0 else "COMPLETED",
            "trigger": "MANUAL" if i % 3 == 0 else "SCHEDULED",
            "scheduled_for": T0 + timedelta(minutes=i),
            "created_at": T0 + timedelta(minutes=i),
            "started_at": T0 + timedelta(minutes=i),
            "completed_at": T0 + timedelta(minutes=i, seconds=2),
            "tweets_fetched": i % 4,
            "params": {},
            "attempt": 1,
        }
        for i in range(625)
    ]
    await session.execute(insert(JobExecution), rows)
    headers = await auth_headers(session, owner)
    seen: list[int] = []
    before: int | None = None
    pages = 0
    while True:
        params: dict[str, int] = {"limit": 37}
        if before is not None:
            params["before"] = before
        response = await client.get(f"/api/v1/jobs/{job.id}/executions", params=params, headers=headers)
        assert response.status_code == 200
        body = response.json()
        pages += 1
        seen.extend(item["id"] for item in body["items"])
        before = body["next_before"]
        if before is None:
            break
    assert len(seen) == 500 == len(set(seen))
    assert seen == sorted(seen, reverse=True)
    assert pages == 14  # ceil(500 / 37)
    first = (await client.get(f"/api/v1/jobs/{job.id}/executions", headers=headers)).json()
    assert len(first["items"]) == 50 and first["items"][0]["id"] == seen[0]
    item = first["items"][0]
    assert item["duration_ms"] == 2000 and item["job_id"] == job.id
    assert set(item) >= {
        "id",
        "status",
        "trigger",
        "scheduled_for",
        "started_at",
        "completed_at",
        "duration_ms",
        "tweets_fetched",
        "error_kind",
        "error_message",
        "attempt",
        "retry_of_id",
        "summary_id",
    }


async def test_history_filters_limits_and_summary_ids(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await make_user(session)
    job = await make_job(session, owner=owner)
    executions = [
        JobExecution(job_id=job.id, user_id=owner.id, status=status, trigger=trigger, params={})
        for status, trigger in [("COMPLETED", "SCHEDULED"), ("FAILED", "MANUAL"), ("COMPLETED", "MANUAL")]
    ]
    session.add_all(executions)
    await session.flush()
    summary = Summary(job_id=job.id, execution_id=executions[2].id, user_id=owner.id, content="# hi")
    session.add(summary)
    headers = await auth_headers(session, owner)
    url = f"/api/v1/jobs/{job.id}/executions"
    manual = (await client.get(url, params={"trigger": "MANUAL"}, headers=headers)).json()["items"]
    assert [i["id"] for i in manual] == [executions[2].id, executions[1].id]
    assert [i["summary_id"] for i in manual] == [summary.id, None]
    completed = (
        await client.get(url, params={"status": "COMPLETED", "trigger": "SCHEDULED"}, headers=headers)
    ).json()
    assert [i["id"] for i in completed["items"]] == [executions[0].id] and completed["next_before"] is None
    for bad in ({"limit": 0}, {"limit": 201}, {"status": "DONE"}, {"before": 0}):
        response = await client.get(url, params=bad, headers=headers)
        assert response.status_code == 422, bad
        assert response.json()["detail"][0]["loc"][-1] == next(iter(bad))
    assert len((await client.get(url, params={"limit": 200}, headers=headers)).json()["items"]) == 3


async def test_a_history_item_is_exactly_the_documented_execution(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """History pages are serialised straight from the service's views: the same fields and values
    as ExecutionRead (GET /executions/{id}), and they validate as the documented ExecutionPage."""
    owner = await make_user(session)
    job = await make_job(session, owner=owner)
    execution = JobExecution(
        job_id=job.id,
        user_id=owner.id,
        status="COMPLETED",
        trigger="SCHEDULED",
        params={"x_username": job.x_username, "topics": ["AI"], "language": "en"},
        scheduled_for=T0,
        created_at=T0,
        started_at=T0 + timedelta(seconds=1),
        completed_at=T0 + timedelta(seconds=3, milliseconds=250),
        tweets_fetched=4,
        gap=True,
    )
    session.add(execution)
    await session.flush()
    headers = await auth_headers(session, owner)
    page = (await client.get(f"/api/v1/jobs/{job.id}/executions", headers=headers)).json()
    ExecutionPage.model_validate(page)
    [item] = page["items"]
    assert set(item) == set(ExecutionRead.model_fields)
    single = (await client.get(f"/api/v1/executions/{execution.id}", headers=headers)).json()
    assert item == single
    assert item["duration_ms"] == 2250 and item["gap"] is True and item["params"]["topics"] == ["AI"]
    assert item["scheduled_for"] == "2026-11-25T12:00:00Z"


async def test_manual_run_is_202_then_409_while_active(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await make_user(session)
    job = await make_job(session, owner=owner)
    headers = await auth_headers(session, owner)
    first = await client.post(f"/api/v1/jobs/{job.id}/run", headers=headers)
    assert first.status_code == 202
    body = first.json()
    assert body["status"] == "QUEUED" and body["trigger"] == "MANUAL" and body["job_id"] == job.id
    second = await client.post(f"/api/v1/jobs/{job.id}/run", headers=headers)
    assert second.status_code == 409 and "already queued or running" in second.json()["detail"]
    fetched = await client.get(f"/api/v1/executions/{body['id']}", headers=headers)
    assert fetched.status_code == 200 and fetched.json()["status"] == "QUEUED"


async def test_manual_run_is_handed_to_the_executor_after_commit(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await make_user(session)
    job = await make_job(session, owner=owner)
    headers = await auth_headers(session, owner)
    executor = RecordingExecutor()
    client._transport.app.state.executor = executor  # type: ignore[attr-defined]
    response = await client.post(f"/api/v1/jobs/{job.id}/run", headers=headers)
    assert response.status_code == 202
    assert executor.submitted == [response.json()["id"]]
    row = await session.get(JobExecution, response.json()["id"])
    assert row is not None and row.queued_at is not None


async def test_unverified_users_cannot_run_and_strangers_get_404(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    unverified = await make_user(session, status=UserStatus.UNVERIFIED)
    job = await make_job(session, owner=unverified)
    headers = await auth_headers(session, unverified)
    assert (await client.post(f"/api/v1/jobs/{job.id}/run", headers=headers)).status_code == 403
    stranger = await auth_headers(session, await make_user(session))
    execution = JobExecution(
        job_id=job.id, user_id=unverified.id, status="FAILED", trigger="SCHEDULED", params={}
    )
    session.add(execution)
    await session.commit()
    assert (await client.get(f"/api/v1/executions/{execution.id}", headers=stranger)).status_code == 404
    assert (
        await client.post(f"/api/v1/executions/{execution.id}/retry", headers=stranger)
    ).status_code == 404


async def test_retry_of_a_failed_run(client: httpx.AsyncClient, session: AsyncSession) -> None:
    owner = await make_user(session)
    job = await make_job(session, owner=owner)
    failed = JobExecution(
        job_id=job.id,
        user_id=owner.id,
        status="FAILED",
        trigger="SCHEDULED",
        params={},
        error_kind="upstream",
    )
    completed = JobExecution(
        job_id=job.id, user_id=owner.id, status="COMPLETED", trigger="SCHEDULED", params={}
    )
    session.add_all([failed, completed])
    headers = await auth_headers(session, owner)
    refused = await client.post(f"/api/v1/executions/{completed.id}/retry", headers=headers)
    assert refused.status_code == 409 and "Only a FAILED execution" in refused.json()["detail"]
    retried = await client.post(f"/api/v1/executions/{failed.id}/retry", headers=headers)
    assert retried.status_code == 202
    body = retried.json()
    assert body["retry_of_id"] == failed.id and body["trigger"] == "MANUAL" and body["status"] == "QUEUED"
    again = await client.post(f"/api/v1/executions/{failed.id}/retry", headers=headers)
    assert again.status_code == 409  # the retry is still active


async def test_a_playground_retry_stays_playground_and_counts_toward_the_quota(
    client: httpx.AsyncClient, session: AsyncSession, settings: object
) -> None:
    owner = await make_user(session)
    params = {"x_username": "alice", "topics": ["ai"], "hours_back": 12, "language": "en"}
    failed = JobExecution(user_id=owner.id, status="FAILED", trigger="PLAYGROUND", params=params)
    session.add(failed)
    headers = await auth_headers(session, owner)
    retried = await client.post(f"/api/v1/executions/{failed.id}/retry", headers=headers)
    assert retried.status_code == 202
    body = retried.json()
    assert body["trigger"] == "PLAYGROUND" and body["job_id"] is None and body["retry_of_id"] == failed.id
    assert body["params"] == params
    # Two playground runs at once is the default limit: the retry is one of them.
    session.add(JobExecution(user_id=owner.id, status="QUEUED", trigger="PLAYGROUND", params=params))
    await session.commit()
    limited = await client.post(f"/api/v1/executions/{failed.id}/retry", headers=headers)
    assert limited.status_code == 429 and "at a time" in limited.json()["detail"]


async def test_summaries_are_owner_only(client: httpx.AsyncClient, session: AsyncSession) -> None:
    owner = await make_user(session)
    job = await make_job(session, owner=owner)
    summary = Summary(
        job_id=job.id,
        user_id=owner.id,
        content="## Headline",
        tweets_count=2,
        x_username="alice",
        topics=["ai"],
        raw_data={"post_ids": ["1", "2"]},
        model="extractive",
    )
    session.add(summary)
    headers = await auth_headers(session, owner)
    response = await client.get(f"/api/v1/summaries/{summary.id}", headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert body["content"] == "## Headline" and body["post_ids"] == ["1", "2"] and body["job_id"] == job.id
    stranger = await auth_headers(session, await make_user(session))
    assert (await client.get(f"/api/v1/summaries/{summary.id}", headers=stranger)).status_code == 404
    assert (await client.get(f"/api/v1/summaries/{summary.id}")).status_code == 401
