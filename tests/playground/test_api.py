from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import auth_headers, make_job, make_user
from tests.playground.conftest import PARAMS, ClientFactory, add_run
from xtrack.config import Settings
from xtrack.db import utcnow
from xtrack.errors import Forbidden, RateLimited
from xtrack.executions.models import JobExecution
from xtrack.jobs.models import Job
from xtrack.playground import history as playground_history
from xtrack.playground import service as playground_service
from xtrack.playground.schemas import (
    PlaygroundHistory,
    PlaygroundRunCreate,
    PlaygroundRunRead,
    PlaygroundSummaryRead,
)
from xtrack.users import service as users_service
from xtrack.users.models import UserStatus

RUN = {"x_username": "@Alice", "topics": ["AI", " chips ", "ai"], "hours_back": 12, "language": "DE"}


async def test_a_run_is_a_queued_playground_execution_handed_to_the_executor(
    api: ClientFactory, session: AsyncSession
) -> None:
    user = await make_user(session)
    headers = await auth_headers(session, user)
    async with api() as (client, executor):
        response = await client.post("/api/v1/playground/runs", json=RUN, headers=headers)
        read_back = await client.get(f"/api/v1/playground/runs/{response.json()['id']}", headers=headers)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body == read_back.json()  # the 202 is built from the inserted row, not read back
    assert body["status"] == "QUEUED" and body["summary"] is None and body["attempt"] == 1
    assert (body["x_username"], body["topics"], body["hours_back"], body["language"]) == (
        "Alice",
        ["AI", "chips"],
        12,
        "de",
    )
    assert executor.submitted == [body["id"]]
    row = await session.get(JobExecution, body["id"], populate_existing=True)
    assert row is not None
    assert (row.trigger, row.job_id, row.user_id, row.status) == ("PLAYGROUND", None, user.id, "QUEUED")
    assert row.params == {
        "x_username": "Alice",
        "topics": ["AI", "chips"],
        "hours_back": 12,
        "language": "de",
    }
    assert row.queued_at is not None


async def test_inputs_are_validated_like_jobs(api: ClientFactory, session: AsyncSession) -> None:
    headers = await auth_headers(session, await make_user(session))
    bad: list[dict[str, Any]] = [
        {**RUN, "hours_back": 0},
        {**RUN, "hours_back": 169},
        {**RUN, "x_username": "not a name!"},
        {**RUN, "language": "english please"},
        {**RUN, "topics": ["x" * 51]},
        {**RUN, "surprise": True},
        {"topics": ["ai"]},
    ]
    async with api() as (client, executor):
        for body in bad:
            response = await client.post("/api/v1/playground/runs", json=body, headers=headers)
            assert response.status_code == 422, body
        ok = await client.post("/api/v1/playground/runs", json={"x_username": "bob"}, headers=headers)
    assert ok.status_code == 202 and ok.json()["hours_back"] == 24 and ok.json()["language"] == "en"
    assert len(executor.submitted) == 1


async def test_unverified_users_cannot_run_the_playground(api: ClientFactory, session: AsyncSession) -> None:
    headers = await auth_headers(session, await make_user(session, status=UserStatus.UNVERIFIED))
    async with api() as (client, executor):
        response = await client.post("/api/v1/playground/runs", json=RUN, headers=headers)
        history = await client.get("/api/v1/playground/history", headers=headers)
    assert response.status_code == 403 and "Verify your email" in response.json()["detail"]
    assert executor.submitted == []
    assert history.status_code == 200 and history.json() == {"items": [], "next_before": None}


async def test_two_users_histories_are_disjoint_and_other_runs_are_404(
    api: ClientFactory, session: AsyncSession
) -> None:
    alice, bob = await make_user(session), await make_user(session)
    alice_h, bob_h = await auth_headers(session, alice), await auth_headers(session, bob)
    async with api() as (client, _):
        a1 = (await client.post("/api/v1/playground/runs", json=RUN, headers=alice_h)).json()["id"]
        b1 = (await client.post("/api/v1/playground/runs", json=RUN, headers=bob_h)).json()["id"]
        a2 = (await client.post("/api/v1/playground/runs", json=RUN, headers=alice_h)).json()["id"]
        # The local operator's CLI runs and job runs are in nobody's playground history.
        await add_run(session, None)
        job = await make_job(session, owner=alice)
        session.add(
            JobExecution(job_id=job.id, user_id=alice.id, status="COMPLETED", trigger="MANUAL", params={})
        )
        await session.commit()

        alice_history = (await client.get("/api/v1/playground/history", headers=alice_h)).json()
        bob_history = (await client.get("/api/v1/playground/history", headers=bob_h)).json()
        assert [item["id"] for item in alice_history["items"]] == [a2, a1]
        assert [item["id"] for item in bob_history["items"]] == [b1]

        assert (await client.get(f"/api/v1/playground/runs/{a1}", headers=alice_h)).status_code == 200
        for run_id in (a1, 999_999):
            missing = await client.get(f"/api/v1/playground/runs/{run_id}", headers=bob_h)
            assert missing.status_code == 404 and missing.json() == {"detail": "Playground run not found."}
            saved = await client.post(
                f"/api/v1/playground/runs/{run_id}/save-as-job", json={"frequency": "1h"}, headers=bob_h
            )
            assert saved.status_code == 404
        # A job's execution is not a playground run, even for its owner.
        manual = await session.scalar(select(JobExecution.id).where(JobExecution.trigger == "MANUAL"))
        assert (await client.get(f"/api/v1/playground/runs/{manual}", headers=alice_h)).status_code == 404
        assert (await client.get("/api/v1/playground/history")).status_code == 401


async def test_concurrent_runs_are_limited_with_retry_after(
    api: ClientFactory, session: AsyncSession
) -> None:
    user = await make_user(session)
    headers = await auth_headers(session, user)
    async with api(playground_max_concurrent=2) as (client, executor):
        first = await client.post("/api/v1/playground/runs", json=RUN, headers=headers)
        second = await client.post("/api/v1/playground/runs", json=RUN, headers=headers)
        refused = await client.post("/api/v1/playground/runs", json=RUN, headers=headers)
        assert (first.status_code, second.status_code) == (202, 202)
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "10"
        assert refused.json()["detail"] == "At most 2 playground runs at a time: wait for one to finish."
        assert len(executor.submitted) == 2
        # Another user is not affected; once one of ours ends there is room again.
        other = await auth_headers(session, await make_user(session))
        assert (await client.post("/api/v1/playground/runs", json=RUN, headers=other)).status_code == 202
        row = await session.get(JobExecution, first.json()["id"])
        assert row is not None
        row.status = "FAILED"
        await session.commit()
        again = await client.post("/api/v1/playground/runs", json=RUN, headers=headers)
        assert again.status_code == 202


async def test_the_daily_quota_is_a_rolling_24_hours_with_retry_after(
    api: ClientFactory, session: AsyncSession
) -> None:
    user = await make_user(session)
    headers = await auth_headers(session, user)
    now = utcnow()
    await add_run(session, user, created_at=now - timedelta(hours=25))  # out of the window
    await add_run(session, user, created_at=now - timedelta(hours=23), status="FAILED")  # failures count
    await add_run(session, user, created_at=now - timedelta(hours=2))
    job = await make_job(session, owner=user)
    session.add(JobExecution(job_id=job.id, user_id=user.id, status="COMPLETED", trigger="MANUAL", params={}))
    await session.commit()
    async with api(playground_daily_quota=3, playground_max_concurrent=10) as (client, _):
        third = await client.post("/api/v1/playground/runs", json=RUN, headers=headers)
        assert third.status_code == 202
        refused = await client.post("/api/v1/playground/runs", json=RUN, headers=headers)
    assert refused.status_code == 429
    body = refused.json()["detail"]
    assert body.startswith("You have used your 3 playground runs for the last 24 hours")
    # The run of 23 hours ago leaves the window in an hour.
    assert 3600 - 60 <= int(refused.headers["retry-after"]) <= 3600
    assert "60 minutes" in body or "59 minutes" in body


async def test_retry_after_counts_to_the_second_the_oldest_run_leaves(
    session: AsyncSession, settings: Settings
) -> None:
    user = await make_user(session)
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    for minutes_ago in (1430, 600, 5):
        await add_run(session, user, created_at=now - timedelta(minutes=minutes_ago))
    limited = settings.model_copy(update={"playground_daily_quota": 2, "playground_max_concurrent": 5})
    with pytest.raises(RateLimited) as caught:
        await playground_service.check_quota(session, user_id=user.id, settings=limited, now=now)
    # The newest two runs fill the quota: the one of 600 minutes ago leaving the window frees a slot.
    assert caught.value.retry_after == (1440 - 600) * 60
    assert "14 h 00 min" in caught.value.message
    roomy = limited.model_copy(update={"playground_daily_quota": 4})
    await playground_service.check_quota(session, user_id=user.id, settings=roomy, now=now)


async def test_a_playground_retry_counts_toward_the_daily_quota(
    api: ClientFactory, session: AsyncSession
) -> None:
    user = await make_user(session)
    headers = await auth_headers(session, user)
    async with api(playground_daily_quota=2, playground_max_concurrent=5) as (client, executor):
        run_id = (await client.post("/api/v1/playground/runs", json=RUN, headers=headers)).json()["id"]
        failed = await session.get(JobExecution, run_id)
        assert failed is not None
        failed.status, failed.error_kind = "FAILED", "upstream"
        await session.commit()
        retried = await client.post(f"/api/v1/executions/{run_id}/retry", headers=headers)
        assert retried.status_code == 202 and retried.json()["trigger"] == "PLAYGROUND"
        refused = await client.post(f"/api/v1/executions/{run_id}/retry", headers=headers)
        assert (
            refused.status_code == 429 and "playground runs for the last 24 hours" in refused.json()["detail"]
        )
        assert int(refused.headers["retry-after"]) > 23 * 3600
        again = await client.post("/api/v1/playground/runs", json=RUN, headers=headers)
        assert again.status_code == 429
    assert executor.submitted == [run_id, retried.json()["id"]]


async def test_history_pages_without_gaps_or_repeats(api: ClientFactory, session: AsyncSession) -> None:
    user, other = await make_user(session), await make_user(session)
    mine = []
    for i in range(23):
        mine.append((await add_run(session, user, summary=i % 3 == 0)).id)
        if i % 4 == 0:
            await add_run(session, other)
    headers = await auth_headers(session, user)
    async with api() as (client, _):
        default = (await client.get("/api/v1/playground/history", headers=headers)).json()
        assert len(default["items"]) == 20 and default["next_before"] == default["items"][-1]["id"]
        seen: list[int] = []
        before = None
        pages = 0
        while True:
            query: dict[str, Any] = {"limit": 7} | ({"before": before} if before else {})
            page = (await client.get("/api/v1/playground/history", params=query, headers=headers)).json()
            seen.extend(item["id"] for item in page["items"])
            pages += 1
            before = page["next_before"]
            if before is None:
                break
        assert seen == sorted(mine, reverse=True) and pages == 4
        for bad in ({"limit": 0}, {"limit": 101}, {"before": 0}):
            response = await client.get("/api/v1/playground/history", params=bad, headers=headers)
            assert response.status_code == 422
    # "Newer" links walk back up without gaps either.
    third_page_before = seen[13]
    assert await playground_history.newer_before(session, user=user, before=third_page_before, limit=7) == (
        seen[7] + 1
    )
    assert await playground_history.newer_before(session, user=user, before=seen[6], limit=7) is None


async def test_history_shows_failed_and_queued_runs_with_their_reason_and_summaries(
    api: ClientFactory, session: AsyncSession
) -> None:
    user = await make_user(session)
    done = await add_run(session, user, summary=True, tweets_fetched=2)
    failed = await add_run(
        session,
        user,
        status="FAILED",
        error_kind="source_not_found",
        error_message="@alice does not exist on X",
    )
    queued = await add_run(session, user, status="QUEUED")
    headers = await auth_headers(session, user)
    async with api() as (client, _):
        page = (await client.get("/api/v1/playground/history", headers=headers)).json()
        one = (await client.get(f"/api/v1/playground/runs/{done.id}", headers=headers)).json()
    # Pages are serialised straight from the service's views: exactly the documented shape.
    PlaygroundHistory.model_validate(page)
    items = page["items"]
    assert all(set(item) == set(PlaygroundRunRead.model_fields) for item in items)
    assert set(items[2]["summary"]) == set(PlaygroundSummaryRead.model_fields)
    assert [(i["id"], i["status"]) for i in items] == [
        (queued.id, "QUEUED"),
        (failed.id, "FAILED"),
        (done.id, "COMPLETED"),
    ]
    assert items[0]["summary"] is None and items[0]["error_kind"] is None
    assert (
        items[1]["error_kind"] == "source_not_found"
        and items[1]["error_message"] == "@alice does not exist on X"
    )
    summary = items[2]["summary"]
    assert summary["content"] == f"## Summary of run {done.id}" and summary["post_ids"] == ["101", "102"]
    assert (summary["model"], summary["input_tokens"], summary["output_tokens"], summary["cost"]) == (
        "gpt-test",
        120,
        30,
        0.0042,
    )
    assert one == items[2] and one["tweets_fetched"] == 2 and one["x_username"] == PARAMS["x_username"]


async def test_save_as_job_uses_the_runs_account_topics_and_language(
    api: ClientFactory, session: AsyncSession
) -> None:
    user = await make_user(session)
    run = await add_run(
        session,
        user,
        params={"x_username": "Alice_1", "topics": ["AI", "chips"], "hours_back": 48, "language": "pt-br"},
    )
    headers = await auth_headers(session, user)
    async with api() as (client, _):
        bad = await client.post(
            f"/api/v1/playground/runs/{run.id}/save-as-job", json={"frequency": "5m"}, headers=headers
        )
        assert bad.status_code == 422
        saved = await client.post(
            f"/api/v1/playground/runs/{run.id}/save-as-job", json={"frequency": "1h"}, headers=headers
        )
        assert saved.status_code == 201, saved.text
        job = saved.json()
        listed = (await client.get("/api/v1/jobs", headers=headers)).json()["items"]
    assert (job["x_username"], job["topics"], job["language"], job["frequency"], job["is_active"]) == (
        "Alice_1",
        ["AI", "chips"],
        "pt-br",
        60,
        True,
    )
    assert [item["id"] for item in listed] == [job["id"]]
    row = await session.get(Job, job["id"])
    assert row is not None and row.user_id == user.id


async def test_save_as_job_respects_the_job_limit(api: ClientFactory, session: AsyncSession) -> None:
    user = await make_user(session)
    run = await add_run(session, user)
    await make_job(session, owner=user)
    await session.commit()
    headers = await auth_headers(session, user)
    async with api(max_jobs_per_user=1) as (client, _):
        response = await client.post(
            f"/api/v1/playground/runs/{run.id}/save-as-job", json={"frequency": "6h"}, headers=headers
        )
    assert response.status_code == 409 and "jobs" in response.json()["detail"]


async def test_the_api_documents_its_errors(api: ClientFactory) -> None:
    async with api() as (client, _):
        spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    create = paths["/api/v1/playground/runs"]["post"]["responses"]
    assert {"202", "401", "403", "422", "429"} <= create.keys()
    assert "Retry-After" in create["429"]["headers"]
    assert {"200", "401", "404", "422"} <= paths["/api/v1/playground/runs/{run_id}"]["get"][
        "responses"
    ].keys()
    assert {"200", "401", "422"} <= paths["/api/v1/playground/history"]["get"]["responses"].keys()
    save = paths["/api/v1/playground/runs/{run_id}/save-as-job"]["post"]["responses"]
    assert {"201", "401", "403", "404", "409", "422"} <= save.keys()


async def test_the_service_refuses_unverified_and_suspended_users(
    session: AsyncSession, settings: Settings
) -> None:
    """The CLI's --user path has no ActiveUser dependency: the service itself checks."""
    data = PlaygroundRunCreate(x_username="alice")
    unverified = await make_user(session, status=UserStatus.UNVERIFIED)
    suspended = await make_user(session)
    await users_service.suspend(session, user=suspended)
    run = await add_run(session, suspended)
    for user, detail in ((unverified, "Verify your email"), (suspended, "suspended")):
        with pytest.raises(Forbidden, match=detail):
            await playground_service.create_run(
                session, user=user, data=data, now=utcnow(), settings=settings
            )
    with pytest.raises(Forbidden):
        await playground_service.save_as_job(
            session, user=suspended, run_id=run.id, frequency=60, now=utcnow(), settings=settings
        )
    assert await session.scalar(select(JobExecution.id).where(JobExecution.user_id == unverified.id)) is None
