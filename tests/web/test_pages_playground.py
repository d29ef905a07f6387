"""Playground pages: the form with the quota left, a run's live page and result, the history, save
as job; validation, quota and ownership."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import make_job, make_user, signed_in
from tests.web.pages_helpers import add_run, add_summary, link, row_ids, tags, text_of, title_of
from xtrack.config import Settings
from xtrack.db import Database
from xtrack.executions.models import JobExecution
from xtrack.jobs.models import Job
from xtrack.users.models import UserStatus
from xtrack.web.app import create_app


@pytest.fixture
async def small_quota_client(db: Database, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client on an app whose playground allows 2 runs a day."""
    app = create_app(settings.model_copy(update={"playground_daily_quota": 2}), database=db)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        yield http


async def test_form_shows_the_quota_and_a_run_starts_with_prg(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    csrf = await signed_in(client, session, user)
    page = await client.get("/playground")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "20 of 20 runs left today" in text and "No playground runs yet" in text
    assert {a.get("name") for a in tags(page.text, "input")} >= {"x_username", "topics", "hours_back"}

    started = await client.post(
        "/playground",
        data={
            "csrf_token": csrf,
            "x_username": "@alice",
            "topics": "ai, chips",
            "hours_back": "12",
            "language": "en",
        },
    )
    assert started.status_code == 303
    run = (await session.execute(select(JobExecution).where(JobExecution.user_id == user.id))).scalar_one()
    assert started.headers["location"] == f"/playground/runs/{run.id}"
    assert (
        run.trigger == "PLAYGROUND"
        and run.params["topics"] == ["ai", "chips"]
        and run.params["hours_back"] == 12
    )

    run_page = await client.get(started.headers["location"])
    text = text_of(run_page.text)
    assert f"Playground run #{run.id} started for @alice." in text
    assert "Queued" in text and "Waiting for a worker" in text
    (region,) = [d for d in tags(run_page.text, "div") if d.get("data-poll-url")]
    assert (
        region["data-poll-url"] == f"/playground/runs/{run.id}/poll" and region["data-poll-active"] == "true"
    )
    assert "Save as job" not in text  # offered once the run has finished
    assert "<noscript>" in run_page.text

    history = await client.get("/playground")
    assert "19 of 20 runs left today" in text_of(history.text)
    assert row_ids(history.text) == [run.id]
    assert "@alice · ai, chips" in text_of(history.text)
    (region,) = [d for d in tags(history.text, "div") if d.get("data-poll-url")]
    assert region["data-poll-url"] == "/playground/poll" and region["data-poll-active"] == "true"


async def test_invalid_input_is_422_with_the_input_kept(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    csrf = await signed_in(client, session, user)
    response = await client.post(
        "/playground",
        data={
            "csrf_token": csrf,
            "x_username": "bad name",
            "topics": "kept",
            "hours_back": "500",
            "language": "en",
        },
    )
    assert response.status_code == 422
    text = text_of(response.text)
    assert "Account: must be an account: an X username" in text
    assert "Hours back: enter a whole number of hours from 1 to 168" in text
    inputs = {a.get("name"): a for a in tags(response.text, "input")}
    assert inputs["x_username"]["value"] == "bad name" and inputs["x_username"]["aria-invalid"] == "true"
    assert inputs["hours_back"]["value"] == "500" and inputs["topics"]["value"] == "kept"
    assert await session.scalar(select(func.count()).select_from(JobExecution)) == 0


async def test_used_up_quota_is_explained(
    small_quota_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    client = small_quota_client
    user = await make_user(session)
    for _ in range(2):
        await add_run(session, None, user_id=user.id, trigger="PLAYGROUND")
    csrf = await signed_in(client, session, user)
    page = await client.get("/playground")
    assert "You have used all 2 runs of the last 24 hours" in text_of(page.text)
    (button,) = [b for b in tags(page.text, "button") if b.get("type") == "submit" and "disabled" in b]
    assert button["aria-describedby"] == "playground-quota"

    refused = await client.post(
        "/playground", data={"csrf_token": csrf, "x_username": "alice", "hours_back": "24"}
    )
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert "You have used your 2 playground runs for the last 24 hours" in text_of(refused.text)
    assert 'value="alice"' in refused.text


async def test_finished_run_shows_its_result_and_saves_as_a_job(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    run = await add_run(
        session,
        None,
        user_id=user.id,
        trigger="PLAYGROUND",
        tweets=3,
        params={"x_username": "alice", "topics": ["ai"], "hours_back": 6, "language": "de"},
    )
    summary = await add_summary(session, run, content="## Result headline\n\n- <em>point</em>")
    csrf = await signed_in(client, session, user)

    page = await client.get(f"/playground/runs/{run.id}")
    text = text_of(page.text)
    assert "Summarized 3 posts" in text and "Result headline" in text
    assert "<em>point</em>" not in page.text  # Markdown rendered safely: raw HTML stays text
    assert f'href="/summaries/{summary.id}"' in page.text
    assert "Save as job" in text and "the last 6 hours" in text
    (again,) = [
        a.get("href") or "" for a in tags(page.text, "a") if (a.get("href") or "").startswith("/playground?")
    ]
    assert again.startswith("/playground?x_username=alice") and "Run again" in text
    prefilled = await client.get(again)
    inputs = {a.get("name"): a for a in tags(prefilled.text, "input")}
    assert inputs["x_username"]["value"] == "alice" and inputs["hours_back"]["value"] == "6"

    saved = await client.post(
        f"/playground/runs/{run.id}/save", data={"csrf_token": csrf, "frequency": "180"}
    )
    assert saved.status_code == 303
    job = (await session.execute(select(Job).where(Job.user_id == user.id))).scalar_one()
    assert saved.headers["location"] == f"/jobs/{job.id}"
    assert (job.x_username, job.topics, job.frequency, job.language) == ("alice", ["ai"], 180, "de")
    assert "Saved as a job: @alice" in text_of((await client.get(saved.headers["location"])).text)


async def test_failed_playground_run_offers_retry_into_a_new_playground_run(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    failed = await add_run(
        session, None, user_id=user.id, trigger="PLAYGROUND", status="FAILED", error_kind="source_not_found"
    )
    csrf = await signed_in(client, session, user)
    page = await client.get(f"/playground/runs/{failed.id}")
    assert "Failed: account not found." in text_of(page.text)
    assert f'action="/runs/{failed.id}/retry"' in page.text
    retried = await client.post(f"/runs/{failed.id}/retry", data={"csrf_token": csrf})
    new = (
        await session.execute(select(JobExecution).where(JobExecution.retry_of_id == failed.id))
    ).scalar_one()
    assert new.trigger == "PLAYGROUND" and retried.headers["location"] == f"/playground/runs/{new.id}"


async def test_history_pages_and_poll(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session)
    ids = [(await add_run(session, None, user_id=user.id, trigger="PLAYGROUND")).id for _ in range(23)]
    await signed_in(client, session, user)
    first = await client.get("/playground")
    assert row_ids(first.text) == sorted(ids, reverse=True)[:20]
    older = link(first.text, "next")
    assert older is not None
    second = await client.get(older.split("#")[0])
    assert row_ids(second.text) == sorted(ids, reverse=True)[20:]
    newer = link(second.text, "prev")
    assert newer is not None and row_ids((await client.get(newer.split("#")[0])).text) == row_ids(first.text)

    poll = await client.get("/playground/poll", params={"since": ""})
    assert poll.status_code == 200 and poll.headers["x-poll-active"] == "false"
    assert (
        await client.get("/playground/poll", params={"since": poll.headers["x-poll-since"]})
    ).status_code == 204


async def test_playground_is_private_and_needs_a_verified_account_to_run(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await make_user(session)
    run = await add_run(session, None, user_id=owner.id, trigger="PLAYGROUND")
    job_run = await add_run(session, await make_job(session, owner=owner))
    intruder = await make_user(session)
    csrf = await signed_in(client, session, intruder)
    for path in [f"/playground/runs/{run.id}", f"/playground/runs/{run.id}/poll"]:
        response = await client.get(path)
        assert response.status_code == 404 and "Not found" in title_of(response.text), path
    assert row_ids((await client.get("/playground")).text) == []
    saved = await client.post(f"/playground/runs/{run.id}/save", data={"csrf_token": csrf, "frequency": "60"})
    assert saved.status_code == 404

    await signed_in(client, session, owner)
    assert (await client.get(f"/playground/runs/{job_run.id}")).status_code == 404  # not a playground run

    unverified = await make_user(session, status=UserStatus.UNVERIFIED)
    csrf = await signed_in(client, session, unverified)
    page = await client.get("/playground")
    assert page.status_code == 200 and "Confirm your email address to use the playground" in text_of(
        page.text
    )
    refused = await client.post(
        "/playground", data={"csrf_token": csrf, "x_username": "alice", "hours_back": "24"}
    )
    assert refused.status_code == 403
