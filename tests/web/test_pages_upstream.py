"""What a run cost upstream and why it may miss posts, on the run, job and summary pages, and who
said what in the posts a summary cites."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import auth_headers, make_job, make_user, signed_in
from tests.web.pages_helpers import add_posts, add_run, add_summary, text_of


async def test_run_page_shows_upstream_cost_beside_the_summarizer_and_the_gap_note(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    job = await make_job(session, owner=user)
    run = await add_run(session, job, status="COMPLETED", tweets=3)
    run.source_requests, run.posts_read, run.source_cost_usd = 7, 140, 0.7
    run.gap = True
    run.gap_note = "twitterapi.io repeated a page cursor: the poll stopped, older posts may be missing"
    await add_summary(session, run)
    await signed_in(client, session, user)

    text = text_of((await client.get(f"/runs/{run.id}")).text)

    assert "Source $0.70 (7 requests, 140 posts read) · summarizer $0.0042" in text
    assert "Gap: twitterapi.io repeated a page cursor" in text
    api = (await client.get(f"/api/v1/executions/{run.id}", headers=await auth_headers(session, user))).json()
    assert (api["source_requests"], api["posts_read"], api["source_cost_usd"]) == (7, 140, 0.7)
    assert api["llm_cost_usd"] == 0.0042 and api["gap_note"].startswith("twitterapi.io repeated")


async def test_job_page_adds_up_this_month(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session)
    job = await make_job(session, owner=user)
    for cost in (0.5, 0.25):
        run = await add_run(session, job, status="COMPLETED")
        run.source_requests, run.posts_read, run.source_cost_usd = 2, 50, cost
        await add_summary(session, run)
    await signed_in(client, session, user)

    text = text_of((await client.get(f"/jobs/{job.id}")).text)

    assert (
        "Cost this month $0.76 (source $0.75: 4 requests, 100 posts read · summarizer $0.0084; 2 runs)"
        in text
    )


async def test_summary_page_says_who_reposted_and_what_was_quoted(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    job = await make_job(session, owner=user)
    repost, quote = await add_posts(session, "alice", 2)
    repost.is_repost, repost.original_author, repost.text = True, "bob", "Bob's whole post"
    quote.is_quote, quote.quoted_author, quote.quoted_text = True, "carol", "Carol's whole post"
    run = await add_run(session, job, status="COMPLETED", tweets=2)
    summary = await add_summary(session, run, post_ids=[repost.external_id, quote.external_id])
    await signed_in(client, session, user)

    text = text_of((await client.get(f"/summaries/{summary.id}")).text)

    assert "@alice · " in text and "reposted @bob" in text and "Bob's whole post" in text
    assert "Quoting @carol Carol's whole post" in text
