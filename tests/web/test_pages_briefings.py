"""The job form for briefings: many handles pasted at once, a daily time, removing one account."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import make_user, signed_in
from tests.web.pages_helpers import tags, text_of
from xtrack.jobs import service as jobs_service
from xtrack.jobs.models import Job
from xtrack.jobs.schemas import split_handles


def test_pasted_handles_are_split_on_spaces_commas_and_lines_with_at_signs_and_profile_links() -> None:
    pasted = "@bob, carol\n https://x.com/Dave  twitter.com/erin/status/123;@frank\n\n"
    assert split_handles(pasted) == ["bob", "carol", "Dave", "erin", "frank"]


async def test_a_briefing_from_pasted_handles_at_8_on_weekdays(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    csrf = await signed_in(client, session, user)
    form = {
        "csrf_token": csrf,
        "x_username": "@alice",
        "more_accounts": "@bob, carol\nhttps://x.com/dave erin bob",
        "topics": "chips",
        "frequency": "360",
        "language": "en",
        "daily_at": "08:00",
        "days": "weekdays",
        "timezone": "Europe/Paris",
    }
    created = await client.post("/jobs", data=form)
    assert created.status_code == 303, created.text
    job = (await session.execute(select(Job).where(Job.user_id == user.id))).scalar_one()
    assert (await jobs_service.accounts_of(session, [job.id]))[job.id] == [
        "alice",
        "bob",
        "carol",
        "dave",
        "erin",
    ]
    page = text_of((await client.get(created.headers["location"])).text)
    assert "Weekdays at 08:00 (Europe/Paris)" in page
    assert "Briefing: @alice and 4 more accounts" in page
    dashboard = text_of((await client.get("/")).text)
    assert "@alice and 4 more" in dashboard and "Weekdays at 08:00 (Europe/Paris)" in dashboard

    edit = await client.get(f"/jobs/{job.id}/edit")
    assert [a for a in tags(edit.text, "textarea") if a.get("name") == "more_accounts"]
    assert "bob\ncarol\ndave\nerin" in edit.text

    removed = await client.post(
        f"/jobs/{job.id}/accounts/remove", data={"csrf_token": csrf, "account": "carol"}
    )
    assert removed.status_code == 303
    assert (await jobs_service.accounts_of(session, [job.id]))[job.id] == ["alice", "bob", "dave", "erin"]


async def test_a_bad_handle_among_many_is_named_on_the_form(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    csrf = await signed_in(client, session, user)
    response = await client.post(
        "/jobs", data={"csrf_token": csrf, "x_username": "alice", "more_accounts": "bob not-a-handle!"}
    )
    assert response.status_code == 422
    assert "Accounts: item 3" in text_of(response.text)


async def test_filters_on_the_form_are_stored_shown_again_and_cleared(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    csrf = await signed_in(client, session, user)
    form = {
        "csrf_token": csrf,
        "x_username": "alice",
        "exclude_replies": "on",
        "include_keywords": "GPU, chips",
    }
    created = await client.post("/jobs", data={**form, "min_likes": "5"})
    assert created.status_code == 303, created.text
    job = (await session.execute(select(Job).where(Job.user_id == user.id))).scalar_one()
    assert job.filters is not None
    assert (job.filters["exclude_replies"], job.filters["include_keywords"], job.filters["min_likes"]) == (
        True,
        ["GPU", "chips"],
        5,
    )
    edit = await client.get(f"/jobs/{job.id}/edit")
    (box,) = [a for a in tags(edit.text, "input") if a.get("name") == "exclude_replies"]
    assert "checked" in box
    bad = await client.post(f"/jobs/{job.id}/edit", data={**form, "min_likes": "lots"})
    assert bad.status_code == 422 and "Filters:" in text_of(bad.text)
    cleared = await client.post(f"/jobs/{job.id}/edit", data={"csrf_token": csrf, "x_username": "alice"})
    assert cleared.status_code == 303
    await session.refresh(job)
    assert job.filters is None
