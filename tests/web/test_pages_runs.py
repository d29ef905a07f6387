"""The execution page (job and playground runs) with Retry and live updates, and the summary page
with its cited posts; owner only."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tests.conftest import make_job, make_user, signed_in
from tests.web.pages_helpers import add_posts, add_run, add_summary, tags, text_of, title_of
from xtrack.db import utcnow
from xtrack.executions.models import JobExecution
from xtrack.users.models import UserStatus


async def test_completed_run_page_tells_the_whole_story(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    user.timezone = "Europe/Berlin"
    job = await make_job(session, owner=user, x_username="alice")
    run = await add_run(session, job, status="COMPLETED", tweets=12, seconds=80, trigger="MANUAL")
    summary = await add_summary(session, run)
    await signed_in(client, session, user)

    page = await client.get(f"/runs/{run.id}")
    assert page.status_code == 200
    assert title_of(page.text).startswith(f"Run #{run.id} · @alice")
    text = text_of(page.text)
    assert "Completed" in text and "Summarized 12 new posts in 1m 20s." in text
    assert "Manual" in text and "1 of 5" in text and "12 new posts" in text
    assert "CET" in text or "CEST" in text  # absolute times in the viewer's zone
    assert f'href="/summaries/{summary.id}"' in page.text and f'href="/jobs/{job.id}"' in page.text
    assert "What ran" in text and "Hours back" in text
    (region,) = [d for d in tags(page.text, "div") if d.get("data-poll-url")]
    assert region["data-poll-url"] == f"/runs/{run.id}/poll" and region["data-poll-active"] == "false"
    assert "<noscript>" not in page.text


async def test_gap_and_queued_retry_wording(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session)
    job = await make_job(session, owner=user)
    gap = await add_run(session, job, status="COMPLETED", tweets=0)
    gap.gap = True
    waiting = await add_run(session, job, status="QUEUED", attempt=3)
    waiting.not_before = utcnow() + timedelta(minutes=5)
    await signed_in(client, session, user)

    text = text_of((await client.get(f"/runs/{gap.id}")).text)
    assert "No new posts since the last run" in text and "Gap: the source could not reach back" in text
    page = await client.get(f"/runs/{waiting.id}")
    text = text_of(page.text)
    assert "Attempt 2 failed; attempt 3 of 5 starts at" in text and "(in 5 min)" in text
    assert "<noscript>" in page.text  # refreshes without JavaScript while the run is active


async def test_failed_run_shows_the_full_error_and_retries_into_a_new_run(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    job = await make_job(session, owner=user)
    message = "Rate limited by the source until 14:05 UTC. " + "detail " * 40
    failed = await add_run(
        session, job, status="FAILED", error_kind="rate_limited", error_message=message, attempt=5
    )
    csrf = await signed_in(client, session, user)

    page = await client.get(f"/runs/{failed.id}")
    text = text_of(page.text)
    assert "Failed after 5 attempts: rate limited." in text
    assert message.strip() in text  # the whole message, not a truncated one
    assert "None: the run failed" in text
    assert f'action="/runs/{failed.id}/retry"' in page.text

    retried = await client.post(f"/runs/{failed.id}/retry", data={"csrf_token": csrf})
    assert retried.status_code == 303
    new = (
        await session.execute(select(JobExecution).where(JobExecution.retry_of_id == failed.id))
    ).scalar_one()
    assert retried.headers["location"] == f"/runs/{new.id}"
    assert (new.status, new.trigger) == ("QUEUED", "MANUAL")
    follow = await client.get(retried.headers["location"])
    assert f"Retrying run #{failed.id} as run #{new.id}." in text_of(follow.text)
    assert f'href="/runs/{failed.id}"' in follow.text  # "retry of run #N"

    # The job has an active run now: a second retry is refused with the reason, on the failed run's page.
    again = await client.post(f"/runs/{failed.id}/retry", data={"csrf_token": csrf}, follow_redirects=True)
    assert str(again.url).endswith(f"/runs/{failed.id}")
    assert "already queued or running" in text_of(again.text)


async def test_run_pages_are_owner_only_and_retry_needs_a_verified_account(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await make_user(session)
    job = await make_job(session, owner=owner)
    failed = await add_run(session, job, status="FAILED")
    playground = await add_run(session, None, user_id=owner.id, trigger="PLAYGROUND")
    intruder = await make_user(session)
    csrf = await signed_in(client, session, intruder)
    for path in [f"/runs/{failed.id}", f"/runs/{failed.id}/poll", f"/runs/{playground.id}"]:
        response = await client.get(path)
        assert response.status_code == 404 and "Not found" in title_of(response.text), path
    assert (await client.post(f"/runs/{failed.id}/retry", data={"csrf_token": csrf})).status_code == 404

    unverified = await make_user(session, status=UserStatus.UNVERIFIED)
    own_job = await make_job(session, owner=unverified)
    own_failed = await add_run(session, own_job, status="FAILED")
    csrf = await signed_in(client, session, unverified)
    page = await client.get(f"/runs/{own_failed.id}")
    assert "Confirm your email address to retry runs." in text_of(page.text)
    assert "/retry" not in page.text
    assert (await client.post(f"/runs/{own_failed.id}/retry", data={"csrf_token": csrf})).status_code == 403


async def test_run_poll_is_204_until_the_run_moves(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session)
    job = await make_job(session, owner=user)
    run = await add_run(session, job, status="QUEUED")
    await signed_in(client, session, user)
    url = f"/runs/{run.id}/poll"
    first = await client.get(url, params={"since": ""})
    assert first.status_code == 200 and first.headers["x-poll-active"] == "true"
    assert "Waiting for a worker" in text_of(first.text)
    assert (await client.get(url, params={"since": first.headers["x-poll-since"]})).status_code == 204
    run.status = "RUNNING"
    run.started_at = utcnow()
    await session.commit()
    moved = await client.get(url, params={"since": first.headers["x-poll-since"]})
    assert moved.status_code == 200 and "Fetching the new posts" in text_of(moved.text)


async def test_summary_page_renders_safely_with_cited_posts_from_one_query(
    client: httpx.AsyncClient, session: AsyncSession, engine: AsyncEngine
) -> None:
    user = await make_user(session)
    job = await make_job(session, owner=user, x_username="alice")
    run = await add_run(session, job, status="COMPLETED", tweets=4)
    posts = await add_posts(session, "alice", 5)
    await add_posts(session, "bob", 2)  # same ids, another account: not cited
    hostile = "## Today\n\n- <script>alert(1)</script> [click](javascript:alert(1))\n- **bold** [post](https://x.com/alice/status/1001)"
    cited = [p.external_id for p in posts[:3]] + ["999999"]  # one post no longer stored
    summary = await add_summary(session, run, content=hostile, post_ids=cited)
    await signed_in(client, session, user)

    statements: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        page = await client.get(f"/summaries/{summary.id}")
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
    assert page.status_code == 200
    assert len([s for s in statements if "FROM posts" in s]) == 1

    assert "<script>alert(1)</script>" not in page.text and 'href="javascript' not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<strong>bold</strong>" in page.text
    text = text_of(page.text)
    assert "Summary of @alice" in text and "ai" in text
    assert "extractive" in text and "1,234 in · 56 out" in text and "$0.0042" in text
    assert "Posts summarized (3 of 4)" in text and "1 of the posts are no longer stored" in text
    # The post the summary links to first, the others folded away below it, newest first.
    quoted_list = page.text[page.text.index('class="cited-posts"') : page.text.index("</ol>")]
    assert [a.get("href") for a in tags(quoted_list, "a")] == ["https://x.com/alice/status/1001"]
    assert "Quoted in the summary (1)" in text and "The other 2 posts" in text
    folded = page.text[page.text.index('<details class="more-posts">') : page.text.index("</details>")]
    assert [a.get("href") for a in tags(folded, "a")] == [
        f"https://x.com/alice/status/{i}" for i in ("1002", "1000")
    ]
    assert "Post number 0 about #AI &lt;b&gt;bold?&lt;/b&gt;" in page.text  # post text escaped
    (textarea,) = tags(page.text, "textarea")
    assert textarea["id"] == "summary-markdown" and "readonly" in textarea
    assert "## Today\n\n- &lt;script&gt;" in page.text  # the raw Markdown, escaped, in the textarea
    (copy,) = [b for b in tags(page.text, "button") if b.get("data-copy-target")]
    assert copy["data-copy-target"] == "#summary-markdown"
    assert f'href="/runs/{run.id}"' in page.text and f'href="/jobs/{job.id}"' in page.text
    assert "→" in text  # the window the run covered


async def test_an_offline_summary_in_another_language_says_its_quotes_are_not_translated(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    run = await add_run(session, await make_job(session, owner=user, language="de"), status="COMPLETED")
    german = await add_summary(session, run, content="## @alice · Neue Beiträge: 3")
    german.raw_data = {**(german.raw_data or {}), "language": "de"}
    english = await add_summary(session, run)
    await session.commit()
    await signed_in(client, session, user)

    text = text_of((await client.get(f"/summaries/{german.id}")).text)
    assert "Written offline in German" in text and "not translated offline" in text
    assert "not translated" not in text_of((await client.get(f"/summaries/{english.id}")).text)
    german.model = "gpt-4o-mini"  # an LLM writes the whole summary in the language
    await session.commit()
    assert "not translated" not in text_of((await client.get(f"/summaries/{german.id}")).text)


async def test_another_users_summary_is_the_404_page(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await make_user(session)
    job = await make_job(session, owner=owner)
    summary = await add_summary(session, await add_run(session, job))
    await signed_in(client, session, await make_user(session))
    response = await client.get(f"/summaries/{summary.id}")
    assert response.status_code == 404 and "Not found" in title_of(response.text)


async def test_the_run_page_gives_one_duration_for_one_run(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    run = await add_run(session, await make_job(session, owner=user), status="COMPLETED", tweets=2)
    assert run.started_at is not None
    run.completed_at = run.started_at + timedelta(milliseconds=110, microseconds=600)
    await session.commit()
    await signed_in(client, session, user)

    text = text_of((await client.get(f"/runs/{run.id}")).text)

    assert "in 111 ms" in text and "Duration 111 ms" in text and "110 ms" not in text
