"""The usage page, the job page's cost chart and months, and the admin page's spend by user all
show the same totals as the sum of the runs (source cost) and their summaries (LLM cost)."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import auth_headers, make_job, make_user, signed_in
from tests.web.pages_helpers import add_run, add_summary, text_of
from xtrack.db import utcnow
from xtrack.executions.budget import month_bounds
from xtrack.executions.models import JobExecution
from xtrack.summaries.models import Summary
from xtrack.users.models import User
from xtrack.web.presenters import format_cost


async def month_total(
    session: AsyncSession, *, user_id: int | None = None, job_id: int | None = None
) -> float:
    """The sum over the runs themselves: source_cost_usd of this month's runs plus their summaries' cost."""
    since, until = month_bounds(utcnow(), "UTC")
    runs = select(func.sum(JobExecution.source_cost_usd)).where(
        JobExecution.created_at >= since, JobExecution.created_at < until
    )
    llm = select(func.sum(Summary.cost)).where(Summary.created_at >= since, Summary.created_at < until)
    if user_id is not None:
        runs, llm = runs.where(JobExecution.user_id == user_id), llm.where(Summary.user_id == user_id)
    if job_id is not None:
        runs, llm = runs.where(JobExecution.job_id == job_id), llm.where(Summary.job_id == job_id)
    return float(await session.scalar(runs) or 0) + float(await session.scalar(llm) or 0)


async def spend(session: AsyncSession, owner: User) -> tuple[int, int]:
    alice = await make_job(session, owner=owner, x_username="alice")
    bob = await make_job(session, owner=owner, x_username="bob")
    for job, cost in ((alice, 0.5), (alice, 0.25), (bob, 0.1)):
        run = await add_run(session, job)
        run.source_cost_usd = cost
        await add_summary(session, run)  # $0.0042 of LLM each
    playground = await add_run(session, None, user_id=owner.id, trigger="PLAYGROUND")
    playground.source_cost_usd = 0.05
    old = await add_run(session, alice, started=month_bounds(utcnow(), "UTC")[0] - timedelta(hours=12))
    old.source_cost_usd, old.created_at = 9.0, old.started_at
    await session.flush()
    return alice.id, bob.id


async def test_usage_job_and_admin_pages_agree_with_the_sum_of_the_runs(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await make_user(session)
    alice, _bob = await spend(session, owner)
    other = await make_user(session)
    small = await add_run(session, await make_job(session, owner=other))
    small.source_cost_usd = 0.02
    admin = await make_user(session, is_admin=True)
    await session.flush()
    total = await month_total(session, user_id=owner.id)
    assert total == 0.5 + 0.25 + 0.1 + 0.05 + 3 * 0.0042  # the sum itself, before any page reads it

    await signed_in(client, session, owner)
    usage = text_of((await client.get("/account/usage")).text)
    assert f"Spent this month {format_cost(total)}" in usage
    assert f"Source (posts read, lookups) {format_cost(0.9)}" in usage
    assert f"LLM (summaries) {format_cost(3 * 0.0042)}" in usage
    alice_total = await month_total(session, job_id=alice)
    assert f"@alice {format_cost(0.75)} {format_cost(0.0084)} {format_cost(alice_total)}" in usage
    assert "@bob" in usage and f"Playground {format_cost(0.05)}" in usage
    by_job = usage[usage.index("By job") :]
    assert by_job.index("@alice") < by_job.index("@bob") < by_job.index("Playground $")  # costliest first
    assert "Monthly budget No limit" in usage

    page = (await client.get(f"/jobs/{alice}")).text
    chart_total = float(re.search(r'data-total-usd="([0-9.]+)"', page).group(1))  # type: ignore[union-attr]
    old_in_chart = (utcnow() - month_bounds(utcnow(), "UTC")[0]).days < 29
    assert chart_total == round(alice_total + (9.0 if old_in_chart else 0.0), 6)
    assert f"Cost last month {format_cost(9.0)}" in text_of(page)

    await signed_in(client, session, admin)
    admin_page = text_of((await client.get("/admin")).text)
    assert f"{owner.email} {format_cost(0.9)} {format_cost(3 * 0.0042)} {format_cost(total)}" in admin_page
    assert f"{other.email} {format_cost(0.02)}" in admin_page
    assert admin_page.index(owner.email, admin_page.index("Spend this month")) < admin_page.index(
        other.email, admin_page.index("Spend this month")
    )


async def test_an_offline_summary_says_why_on_its_page_and_in_the_api(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await make_user(session)
    budget_run = await add_run(session, await make_job(session, owner=owner))
    spent = await add_summary(session, budget_run)
    spent.raw_data = {**(spent.raw_data or {}), "offline": "budget"}
    few_run = await add_run(session, await make_job(session, owner=owner, x_username="bob"))
    few = await add_summary(session, few_run)
    few.raw_data = {**(few.raw_data or {}), "offline": "few_posts"}
    await session.flush()
    headers = await auth_headers(session, owner)
    await signed_in(client, session, owner)

    assert "Written offline (no LLM): the monthly budget is spent" in text_of(
        (await client.get(f"/summaries/{spent.id}")).text
    )
    assert "Written offline (no LLM): too few new posts" in text_of(
        (await client.get(f"/summaries/{few.id}")).text
    )
    api = await client.get(f"/api/v1/summaries/{spent.id}", headers=headers)
    assert api.status_code == 200 and api.json()["offline_reason"] == "budget"


async def test_the_job_page_month_is_the_owners_month_as_on_the_usage_page(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    # UTC+14: the owner's month starts ten hours before the UTC day before the UTC month does.
    owner = await make_user(session)
    owner.timezone = "Pacific/Kiritimati"
    job = await make_job(session, owner=owner, x_username="alice")
    local_start, _ = month_bounds(utcnow(), owner.timezone)
    early = await add_run(session, job, started=local_start + timedelta(hours=1))
    early.source_cost_usd, early.created_at = 0.3, early.started_at
    before = await add_run(session, job, started=local_start - timedelta(hours=1))
    before.source_cost_usd, before.created_at = 7.0, before.started_at
    await session.flush()

    await signed_in(client, session, owner)
    job_page = text_of((await client.get(f"/jobs/{job.id}")).text)
    usage = text_of((await client.get("/account/usage")).text)
    assert f"Cost this month {format_cost(0.3)}" in job_page
    assert f"Cost last month {format_cost(7.0)}" in job_page
    assert f"Spent this month {format_cost(0.3)}" in usage


async def test_the_budget_form_sets_clears_and_refuses_bad_amounts_on_the_page(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await make_user(session)
    csrf = await signed_in(client, session, owner)
    page = (await client.get("/account/usage")).text
    assert 'action="/account/usage/budget"' in page and f'value="{csrf}"' in page

    saved = await client.post(
        "/account/usage/budget",
        data={"csrf_token": csrf, "monthly_budget_usd": "$12.50", "budget_action": "pause"},
    )
    assert saved.status_code == 303 and saved.headers["location"] == "/account/usage"
    await session.refresh(owner)
    assert owner.monthly_budget_usd == 12.5 and owner.budget_action == "pause"
    shown = (await client.get("/account/usage")).text
    assert "Budget saved: $12.50 a month." in text_of(shown)
    assert "Monthly budget $12.50" in text_of(shown) and 'value="12.5"' in shown
    assert '<option value="pause" selected' in shown

    for bad, needle in (("-3", "enter 0 or more US dollars"), ("lots", "enter 0 or more US dollars")):
        refused = await client.post(
            "/account/usage/budget",
            data={"csrf_token": csrf, "monthly_budget_usd": bad, "budget_action": "offline"},
        )
        assert refused.status_code == 422
        assert f"Monthly budget: {needle}" in text_of(refused.text)
        assert f'value="{bad}"' in refused.text  # the input is kept
        assert '<option value="offline" selected' in refused.text
        assert 'aria-invalid="true"' in refused.text
    wrong_action = await client.post(
        "/account/usage/budget",
        data={"csrf_token": csrf, "monthly_budget_usd": "1", "budget_action": "explode"},
    )
    assert wrong_action.status_code == 422 and "When it is spent: choose" in text_of(wrong_action.text)
    forged = await client.post(
        "/account/usage/budget",
        data={"csrf_token": "forged", "monthly_budget_usd": "0", "budget_action": "offline"},
    )
    assert forged.status_code == 403
    await session.refresh(owner)
    assert owner.monthly_budget_usd == 12.5 and owner.budget_action == "pause"  # nothing refused was saved

    cleared = await client.post(
        "/account/usage/budget",
        data={"csrf_token": csrf, "monthly_budget_usd": " ", "budget_action": "offline"},
    )
    assert cleared.status_code == 303
    await session.refresh(owner)
    assert owner.monthly_budget_usd is None and owner.budget_action == "offline"
    assert "Monthly budget No limit" in text_of((await client.get("/account/usage")).text)
