"""Trying a briefing in the playground: ``accounts`` with the jobs' limits, one run of the quota,
saved as a job over the same accounts."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import auth_headers, make_user, signed_in
from tests.playground.conftest import ClientFactory
from xtrack.executions.models import JobExecution
from xtrack.jobs import service as jobs_service


async def test_a_playground_briefing_records_its_accounts_and_saves_as_a_briefing(
    api: ClientFactory, session: AsyncSession
) -> None:
    user = await make_user(session)
    headers = await auth_headers(session, user)
    run = {"accounts": ["@alice", "bob", "ALICE", "carol"], "topics": ["chips"], "hours_back": 12}
    async with api() as (client, _executor):
        response = await client.post("/api/v1/playground/runs", json=run, headers=headers)
        assert response.status_code == 202, response.text
        body = response.json()
        assert body["accounts"] == ["alice", "bob", "carol"] and body["x_username"] == "alice"
        row = await session.get(JobExecution, body["id"], populate_existing=True)
        assert row is not None and row.params["accounts"] == ["alice", "bob", "carol"]
        saved = await client.post(
            f"/api/v1/playground/runs/{body['id']}/save-as-job", json={}, headers=headers
        )
        assert saved.status_code == 201, saved.text
        assert saved.json()["accounts"] == ["alice", "bob", "carol"]
        assert (await jobs_service.accounts_of(session, [saved.json()["id"]]))[saved.json()["id"]] == [
            "alice",
            "bob",
            "carol",
        ]


async def test_playground_accounts_have_the_jobs_limits(api: ClientFactory, session: AsyncSession) -> None:
    headers = await auth_headers(session, await make_user(session))
    async with api() as (client, _executor):
        response = await client.post(
            "/api/v1/playground/runs", json={"accounts": [f"u{i}" for i in range(51)]}, headers=headers
        )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "accounts"


async def test_the_playground_page_tries_a_briefing_from_pasted_handles(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    csrf = await signed_in(client, session, user)
    form = {
        "csrf_token": csrf,
        "x_username": "alice",
        "more_accounts": "@bob\nhttps://x.com/carol",
        "hours_back": "6",
    }
    response = await client.post("/playground", data=form)
    assert response.status_code == 303, response.text
    run_id = int(response.headers["location"].rsplit("/", 1)[1])
    row = await session.get(JobExecution, run_id, populate_existing=True)
    assert row is not None and row.params["accounts"] == ["alice", "bob", "carol"]
