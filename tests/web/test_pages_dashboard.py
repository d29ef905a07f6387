"""The dashboard at "/": one row per job from one query, the failing count in the title, empty
states (verified and not), live updates; visitors still get the landing page."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import httpx
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tests.conftest import make_job, make_user, signed_in
from tests.web.pages_helpers import add_run, tags, text_of, title_of
from xtrack.db import utcnow
from xtrack.users.models import UserStatus


@contextmanager
def counting_statements(engine: AsyncEngine) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def test_visitors_get_the_landing_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert "Follow X accounts" in text_of(response.text)
    assert "Dashboard" not in title_of(response.text)


async def test_no_jobs_leads_to_create_and_the_playground(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    await signed_in(client, session, user)
    response = await client.get("/")
    assert response.status_code == 200
    assert title_of(response.text) == "Dashboard · XTrack"
    hrefs = {a.get("href"): a for a in tags(response.text, "a")}
    assert "/jobs/new" in hrefs and "/playground" in hrefs
    text = text_of(response.text)
    assert "Create your first job" in text and "Try the playground" in text


async def test_unverified_users_are_told_to_verify_before_creating(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session, status=UserStatus.UNVERIFIED)
    await signed_in(client, session, user)
    response = await client.get("/")
    text = text_of(response.text)
    assert "Confirm your email address to create jobs" in text  # the banner of every page
    assert "Confirm your email address first" in text  # next to the disabled button
    assert "/jobs/new" not in {a.get("href") for a in tags(response.text, "a")}
    (disabled,) = [s for s in tags(response.text, "span") if s.get("aria-disabled") == "true"]
    assert disabled["aria-describedby"] == "create-blocked"


async def test_one_row_per_job_with_last_run_next_run_posts_and_success(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    healthy = await make_job(session, owner=user, x_username="alice", topics=["ai", "chips"], frequency=360)
    healthy.next_run_at = utcnow() + timedelta(minutes=30)
    for _ in range(3):
        await add_run(session, healthy, status="COMPLETED", tweets=2)
    await add_run(session, healthy, status="COMPLETED", tweets=12)
    failing = await make_job(session, owner=user, x_username="bob", frequency=60)
    await add_run(session, failing, status="COMPLETED")
    await add_run(session, failing, status="FAILED", error_kind="rate_limited")
    paused = await make_job(session, owner=user, x_username="carol")
    paused.is_active = False
    await make_job(session, x_username="someone_else")  # another user's job is not listed
    await signed_in(client, session, user)

    response = await client.get("/")
    assert response.status_code == 200
    assert title_of(response.text) == "(1 failing) Dashboard · XTrack"
    rows = {attrs["id"] for attrs in tags(response.text, "tr") if attrs.get("id")}
    assert rows == {f"job-{healthy.id}", f"job-{failing.id}", f"job-{paused.id}"}
    text = text_of(response.text)
    assert "3 jobs · 1 failing" in text
    alice = text[text.index("@alice") - 40 : text.index("@alice") + 120]
    assert "Completed" in alice and "ai chips" in alice and "Every 6 h" in alice and "in 30 min" in alice
    assert "12" in alice and "100%" in alice
    bob = text[text.index("@bob") - 60 : text.index("@bob") + 80]
    assert "Failed · rate limited" in bob and "50%" in bob and "—" in bob
    carol = text[text.index("@carol") - 40 : text.index("@carol") + 80]
    assert "Not run yet" in carol and "Paused" in carol
    assert "someone_else" not in text


async def test_the_list_is_one_query_whatever_the_number_of_jobs(
    client: httpx.AsyncClient, session: AsyncSession, engine: AsyncEngine
) -> None:
    user = await make_user(session)
    await signed_in(client, session, user)

    async def statements_for_dashboard() -> int:
        with counting_statements(engine) as statements:
            response = await client.get("/")
        assert response.status_code == 200
        listing = [s for s in statements if "FROM jobs" in s and "job_executions" in s]
        assert len(listing) == 1, statements  # the jobs with their last runs: one statement
        return len(statements)

    job = await make_job(session, owner=user)
    await add_run(session, job)
    await session.commit()
    with_one = await statements_for_dashboard()
    for index in range(6):
        more = await make_job(session, owner=user, x_username=f"user{index}")
        await add_run(session, more, status="FAILED")
        await add_run(session, more)
    await session.commit()
    assert await statements_for_dashboard() == with_one


async def test_dashboard_polls_while_a_run_is_active_and_answers_204_when_unchanged(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    job = await make_job(session, owner=user)
    job.next_run_at = utcnow() + timedelta(hours=1)
    run = await add_run(session, job, status="QUEUED")
    await signed_in(client, session, user)

    page = await client.get("/")
    (region,) = [d for d in tags(page.text, "div") if d.get("data-poll-url")]
    assert region["data-poll-url"] == "/dashboard/poll" and region["data-poll-active"] == "true"

    first = await client.get("/dashboard/poll", params={"since": ""})
    assert first.status_code == 200 and first.headers["x-poll-active"] == "true"
    assert "Queued" in first.text and "<html" not in first.text
    assert (
        await client.get("/dashboard/poll", params={"since": first.headers["x-poll-since"]})
    ).status_code == 204

    run.status = "FAILED"
    run.error_kind = "upstream"
    run.started_at = run.completed_at = utcnow()
    await session.commit()
    changed = await client.get("/dashboard/poll", params={"since": first.headers["x-poll-since"]})
    assert changed.status_code == 200 and changed.headers["x-poll-active"] == "false"
    assert "Failed · upstream error" in changed.text
