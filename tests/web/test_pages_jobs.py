"""Job pages: forms with server-side validation, the job page (runs, filters, pagination, chart,
poll), run now, pause/resume, delete with confirmation; owner only."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import make_job, make_user, signed_in
from tests.web.pages_helpers import add_run, add_summary, link, row_ids, tags, text_of, title_of
from xtrack.db import utcnow
from xtrack.executions.models import JobExecution
from xtrack.jobs.models import Job
from xtrack.summaries.models import Summary
from xtrack.users.models import UserStatus


async def test_new_job_form_creates_a_job_then_redirects_to_it(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    csrf = await signed_in(client, session, user)
    form = await client.get("/jobs/new")
    assert form.status_code == 200
    assert {attrs.get("name") for attrs in tags(form.text, "select")} == {"frequency", "language"}
    assert 'for="field-topics"' in form.text

    created = await client.post(
        "/jobs",
        data={
            "csrf_token": csrf,
            "x_username": "@Alice_1",
            "topics": "AI, chips\nrobots\n\nai",
            "frequency": "60",
            "language": "de",
        },
    )
    assert created.status_code == 303
    job = (await session.execute(select(Job).where(Job.user_id == user.id))).scalar_one()
    assert created.headers["location"] == f"/jobs/{job.id}"
    assert (job.x_username, job.topics, job.frequency, job.language) == (
        "Alice_1",
        ["AI", "chips", "robots"],
        60,
        "de",
    )
    page = await client.get(created.headers["location"])
    assert "Job created: @Alice_1" in text_of(page.text)  # the flash, shown once
    assert "First run starting now" in text_of(page.text)


async def test_invalid_job_form_is_422_with_the_input_kept_and_the_field_named(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    csrf = await signed_in(client, session, user)
    response = await client.post(
        "/jobs",
        data={
            "csrf_token": csrf,
            "x_username": "not a handle!",
            "topics": "kept topic, " + "x" * 60,
            "frequency": "5",
            "language": "en",
        },
    )
    assert response.status_code == 422
    text = text_of(response.text)
    assert "There is a problem" in text
    assert "Account: must be an account: an X username" in text
    assert "Topics: each topic must be at most 50 characters" in text
    assert "Frequency: must be at least 15 minutes" in text
    (username,) = [a for a in tags(response.text, "input") if a.get("name") == "x_username"]
    assert username["value"] == "not a handle!" and username["aria-invalid"] == "true"
    assert username["aria-describedby"] and "field-x_username-error" in username["aria-describedby"]
    assert "kept topic" in response.text
    assert {a.get("href") for a in tags(response.text, "a")} >= {"#field-x_username", "#field-topics"}
    assert await session.scalar(select(func.count()).select_from(Job).where(Job.user_id == user.id)) == 0

    empty = await client.post("/jobs", data={"csrf_token": csrf, "x_username": " @ ", "topics": ""})
    assert empty.status_code == 422
    assert "Enter the X account to follow, e.g. @alice." in text_of(empty.text)


async def test_unverified_users_see_why_they_cannot_create_jobs(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session, status=UserStatus.UNVERIFIED)
    csrf = await signed_in(client, session, user)
    form = await client.get("/jobs/new")
    assert form.status_code == 200
    assert "Confirm your email address before creating jobs" in text_of(form.text)
    (button,) = [b for b in tags(form.text, "button") if b.get("type") == "submit" and "disabled" in b]
    assert button["aria-describedby"] == "write-blocked"
    refused = await client.post("/jobs", data={"csrf_token": csrf, "x_username": "alice"})
    assert refused.status_code == 403


async def test_edit_form_is_prefilled_and_saves_with_prg(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    job = await make_job(session, owner=user, x_username="alice", topics=["ai", "chips"], frequency=90)
    csrf = await signed_in(client, session, user)
    form = await client.get(f"/jobs/{job.id}/edit")
    assert form.status_code == 200
    assert "ai\nchips</textarea>" in form.text
    assert '<option value="90" selected>Every 90 min (current)</option>' in form.text

    bad = await client.post(
        f"/jobs/{job.id}/edit",
        data={"csrf_token": csrf, "x_username": "alice", "topics": "ai", "frequency": "1", "language": "xx!"},
    )
    assert bad.status_code == 422
    assert "Summary language: must be a language code" in text_of(bad.text)

    saved = await client.post(
        f"/jobs/{job.id}/edit",
        data={
            "csrf_token": csrf,
            "x_username": "alice",
            "topics": "robots",
            "frequency": "360",
            "language": "fr",
        },
    )
    assert saved.status_code == 303 and saved.headers["location"] == f"/jobs/{job.id}"
    await session.refresh(job)
    assert (job.topics, job.frequency, job.language) == (["robots"], 360, "fr")
    assert "Job saved." in text_of((await client.get(f"/jobs/{job.id}")).text)


async def test_another_users_job_pages_are_the_404_page(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await make_user(session)
    job = await make_job(session, owner=owner)
    await add_run(session, job)
    intruder = await make_user(session)
    csrf = await signed_in(client, session, intruder)
    for path in [
        f"/jobs/{job.id}",
        f"/jobs/{job.id}/edit",
        f"/jobs/{job.id}/delete",
        f"/jobs/{job.id}/runs/poll",
    ]:
        response = await client.get(path)
        assert response.status_code == 404, path
        assert "Not found" in title_of(response.text), path
    for path in [f"/jobs/{job.id}/run", f"/jobs/{job.id}/pause", f"/jobs/{job.id}/delete"]:
        assert (await client.post(path, data={"csrf_token": csrf})).status_code == 404, path
    assert await session.get(Job, job.id) is not None


async def test_job_page_shows_state_summary_chart_and_runs(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    job = await make_job(session, owner=user, x_username="alice", topics=["ai"])
    job.next_run_at = utcnow() + timedelta(hours=2)
    old = await add_run(session, job, status="FAILED", started=utcnow() - timedelta(hours=3))
    done = await add_run(session, job, status="COMPLETED", tweets=7, started=utcnow() - timedelta(hours=1))
    await add_summary(session, done, content="## Headline of the day\n\n- **AI** point one\n- point two")
    await signed_in(client, session, user)

    page = await client.get(f"/jobs/{job.id}")
    assert page.status_code == 200
    text = text_of(page.text)
    assert title_of(page.text).startswith("@alice")
    assert "Active" in text and "in 2 h" in text
    assert "Headline of the day" in text and "<strong>AI</strong>" in page.text
    assert "Read the full summary" in text
    assert row_ids(page.text) == [done.id, old.id]
    assert "Completed" in text and "Failed · upstream error" in text
    assert "Upstream said no (HTTP 503)." in text
    assert f'action="/runs/{old.id}/retry"' in page.text
    assert "<svg" in page.text and "Posts fetched and duration of the last 2 runs" in page.text
    assert "50%" in text  # one completed of two finished
    assert "Danger zone" in text and f'href="/jobs/{job.id}/delete"' in page.text
    (region,) = [d for d in tags(page.text, "div") if d.get("data-poll-url")]
    assert region["data-poll-url"] == f"/jobs/{job.id}/runs/poll"
    assert region["data-poll-active"] == "false"


async def test_first_run_empty_state_says_when_and_offers_run_now(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    user.timezone = "Europe/Paris"
    job = await make_job(session, owner=user)
    job.next_run_at = utcnow() + timedelta(minutes=12)
    await signed_in(client, session, user)
    page = await client.get(f"/jobs/{job.id}")
    text = text_of(page.text)
    local = job.next_run_at.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Paris"))
    assert f"First run at {local:%H:%M} (in 12 min)." in text
    assert "No runs match" not in text
    assert page.text.count(f'action="/jobs/{job.id}/run"') == 2  # the header and the empty state


async def test_run_now_queues_a_run_and_a_second_one_is_refused_with_the_reason(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    job = await make_job(session, owner=user)
    csrf = await signed_in(client, session, user)
    first = await client.post(f"/jobs/{job.id}/run", data={"csrf_token": csrf})
    assert first.status_code == 303 and first.headers["location"] == f"/jobs/{job.id}"
    run = (await session.execute(select(JobExecution).where(JobExecution.job_id == job.id))).scalar_one()
    assert (run.status, run.trigger) == ("QUEUED", "MANUAL")

    page = await client.get(f"/jobs/{job.id}")
    assert f"Run #{run.id} queued" in text_of(page.text)
    assert "A run is in progress: wait for it to finish." in text_of(page.text)
    assert f'action="/jobs/{job.id}/run"' not in page.text  # the button is disabled, not a form
    (region,) = [d for d in tags(page.text, "div") if d.get("data-poll-url")]
    assert region["data-poll-active"] == "true" and "data-poll-reload-when-done" in region
    assert "<noscript>" in page.text

    second = await client.post(f"/jobs/{job.id}/run", data={"csrf_token": csrf}, follow_redirects=True)
    assert second.status_code == 200
    assert "A run of this job is already queued or running" in text_of(second.text)
    assert await session.scalar(select(func.count()).select_from(JobExecution)) == 1


async def test_pause_and_resume(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session)
    job = await make_job(session, owner=user)
    queued = await add_run(session, job, status="QUEUED")
    csrf = await signed_in(client, session, user)
    paused = await client.post(f"/jobs/{job.id}/pause", data={"csrf_token": csrf}, follow_redirects=True)
    text = text_of(paused.text)
    assert "Job paused" in text and "This job is paused: resume it to run it." in text
    await session.refresh(job)
    await session.refresh(queued)
    assert job.is_active is False and queued.status == "CANCELLED"
    assert f'action="/jobs/{job.id}/resume"' in paused.text
    resumed = await client.post(f"/jobs/{job.id}/resume", data={"csrf_token": csrf}, follow_redirects=True)
    assert "Job resumed" in text_of(resumed.text)
    await session.refresh(job)
    assert job.is_active is True


async def test_delete_asks_first_naming_what_goes_then_deletes(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    job = await make_job(session, owner=user, x_username="alice")
    runs = [await add_run(session, job) for _ in range(3)]
    await add_summary(session, runs[0])
    csrf = await signed_in(client, session, user)

    confirm = await client.get(f"/jobs/{job.id}/delete")
    assert confirm.status_code == 200
    text = text_of(confirm.text)
    assert "Delete the job following @alice?" in text and "3 runs and 1 summary" in text
    (cancel,) = [
        a for a in tags(confirm.text, "a") if a.get("href") == f"/jobs/{job.id}" and "autofocus" in a
    ]
    assert cancel is not None
    (danger,) = [b for b in tags(confirm.text, "button") if "danger" in (b.get("class") or "")]
    assert danger["type"] == "submit"
    assert await session.get(Job, job.id) is not None  # GET changed nothing

    deleted = await client.post(f"/jobs/{job.id}/delete", data={"csrf_token": csrf})
    assert deleted.status_code == 303 and deleted.headers["location"] == "/"
    session.expunge_all()
    assert await session.get(Job, job.id) is None
    assert (
        await session.scalar(select(func.count()).select_from(Summary).where(Summary.job_id == job.id)) == 0
    )
    home = await client.get("/")
    assert "Deleted the job following @alice, with its 3 runs and 1 summary." in text_of(home.text)


async def test_runs_filter_by_status_and_trigger_with_counts(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    job = await make_job(session, owner=user)
    completed = [await add_run(session, job, status="COMPLETED") for _ in range(3)]
    failed = await add_run(session, job, status="FAILED", trigger="MANUAL")
    await signed_in(client, session, user)

    page = await client.get(f"/jobs/{job.id}")
    text = text_of(page.text)
    assert "All (4)" in text and "Completed (3)" in text and "Failed (1)" in text and "Queued (0)" in text
    assert "Scheduled (3)" in text and "Manual (1)" in text

    only_failed = await client.get(f"/jobs/{job.id}", params={"status": "failed"})
    assert row_ids(only_failed.text) == [failed.id]
    assert 'aria-current="true">Failed' in only_failed.text
    # The trigger counts follow the status filter.
    assert "Scheduled (0)" in text_of(only_failed.text) and "Manual (1)" in text_of(only_failed.text)

    scheduled = await client.get(f"/jobs/{job.id}", params={"trigger": "SCHEDULED"})
    assert row_ids(scheduled.text) == [run.id for run in reversed(completed)]

    nothing = await client.get(f"/jobs/{job.id}", params={"status": "FAILED", "trigger": "SCHEDULED"})
    text = text_of(nothing.text)
    assert "No runs match" in text and "Clear filters" in text and "No runs yet" not in text
    assert f'href="/jobs/{job.id}#runs"' in nothing.text


async def test_runs_pagination_visits_every_run_once_both_ways(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    job = await make_job(session, owner=user)
    start = utcnow() - timedelta(days=3)
    ids = [
        (
            await add_run(
                session,
                job,
                status="FAILED" if i % 4 == 0 else "COMPLETED",
                started=start + timedelta(minutes=i),
            )
        ).id
        for i in range(60)
    ]
    await signed_in(client, session, user)

    for params in ({}, {"status": "COMPLETED"}):
        expected = sorted((i for n, i in enumerate(ids) if not params or n % 4 != 0), reverse=True)
        pages: list[list[int]] = []
        url: str | None = f"/jobs/{job.id}"
        first = True
        while url is not None:
            response = await client.get(url, params=params if first else None)
            first = False
            assert response.status_code == 200
            pages.append(row_ids(response.text))
            older = link(response.text, "next")
            url = older.split("#")[0] if older else None
            last_page = response.text
        assert [i for page in pages for i in page] == expected
        assert all(len(page) == 25 for page in pages[:-1]) and 0 < len(pages[-1]) <= 25

        back: list[list[int]] = [row_ids(last_page)]
        newer = link(last_page, "prev")
        while newer:
            response = await client.get(newer.split("#")[0])
            back.append(row_ids(response.text))
            newer = link(response.text, "prev")
        assert list(reversed(back)) == pages
        if params:
            assert all(
                "status=COMPLETED" in (urlsplit(a.get("href") or "").query)
                for a in tags(last_page, "a")
                if a.get("rel")
            )


async def test_poll_endpoint_is_204_until_the_runs_change(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    job = await make_job(session, owner=user)
    run = await add_run(session, job, status="RUNNING", started=utcnow() - timedelta(hours=2))
    await signed_in(client, session, user)
    url = f"/jobs/{job.id}/runs/poll"

    first = await client.get(url, params={"since": ""})
    assert first.status_code == 200 and first.headers["x-poll-active"] == "true"
    assert row_ids(first.text) == [run.id] and "<html" not in first.text
    since = first.headers["x-poll-since"]
    assert (await client.get(url, params={"since": since})).status_code == 204

    run.status = "COMPLETED"
    run.completed_at = utcnow()
    run.tweets_fetched = 4
    job.next_run_at = utcnow() + timedelta(hours=1)
    await session.commit()
    changed = await client.get(url, params={"since": since})
    assert changed.status_code == 200 and changed.headers["x-poll-active"] == "false"
    assert 'data-status="COMPLETED"' in changed.text
