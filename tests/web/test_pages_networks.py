"""Accounts of the three networks on the pages: created from the form, shown with the network's
mark and a link to the profile on the job page and the dashboard."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import make_user, signed_in
from tests.web.pages_helpers import tags, text_of
from xtrack.jobs.models import Job


async def test_a_briefing_over_three_networks_from_the_form_to_the_pages(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    csrf = await signed_in(client, session, user)
    form = await client.get("/jobs/new")
    (field,) = [t for t in tags(form.text, "input") if t.get("name") == "x_username"]
    assert int(field["maxlength"] or 0) >= 300  # a Bluesky or Mastodon handle fits

    created = await client.post(
        "/jobs",
        data={
            "csrf_token": csrf,
            "x_username": "https://bsky.app/profile/Carol.bsky.social",
            "more_accounts": "@alice\n@bob@mastodon.social https://fosstodon.org/@erin",
            "topics": "chips",
            "frequency": "60",
            "language": "en",
        },
    )
    assert created.status_code == 303, created.text
    job = (await session.execute(select(Job).where(Job.user_id == user.id))).scalar_one()
    assert job.x_username == "carol.bsky.social"

    page = await client.get(f"/jobs/{job.id}")
    links = {a.get("href") for a in tags(page.text, "a")}
    assert {
        "https://bsky.app/profile/carol.bsky.social",
        "https://x.com/alice",
        "https://mastodon.social/@bob",
        "https://fosstodon.org/@erin",
    } <= links
    text = text_of(page.text)
    assert "Bluesky: @carol.bsky.social" in text and "Mastodon: @bob@mastodon.social" in text
    assert "X: @alice" in text and "🦋" in page.text and "🐘" in page.text

    dashboard = await client.get("/")
    assert "https://bsky.app/profile/carol.bsky.social" in {a.get("href") for a in tags(dashboard.text, "a")}
    assert (
        f'href="/jobs/{job.id}"' in dashboard.text
        and "@carol.bsky.social and 3 more 🦋 profile on Bluesky" in text_of(dashboard.text)
    )


async def test_junk_in_the_account_field_is_named(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session)
    csrf = await signed_in(client, session, user)
    response = await client.post(
        "/jobs",
        data={"csrf_token": csrf, "x_username": "bob@", "topics": "", "frequency": "60", "language": "en"},
    )
    assert response.status_code == 422
    assert "Account: must be an account" in text_of(response.text)
