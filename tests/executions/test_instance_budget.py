"""The operator's ceiling (XTRACK_MONTHLY_BUDGET_USD): the runner sums the instance's month at most
once a minute per process and database (the sum scans every kept run and summary); pages and
requests read it exactly."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import make_job, make_user, queue_playground_run
from tests.web.pages_helpers import add_run
from xtrack.config import Settings
from xtrack.db import Database, utcnow
from xtrack.executions import budget as budgets
from xtrack.executions import claims
from xtrack.executions.claims import Claim
from xtrack.jobs.models import Job
from xtrack.users.models import User

T0 = budgets.month_bounds(utcnow(), "UTC")[0] + timedelta(days=1, hours=12)


def test_a_cached_sum_is_fresh_for_a_minute_of_its_month() -> None:
    cached = budgets.InstanceSpend(month_start=budgets.month_bounds(T0, "UTC")[0], read_at=T0, spent_usd=3.0)
    assert budgets.fresh_spend(None, now=T0) is None
    assert budgets.fresh_spend(cached, now=T0) == 3.0
    assert budgets.fresh_spend(cached, now=T0 + timedelta(seconds=59)) == 3.0
    assert budgets.fresh_spend(cached, now=T0 + timedelta(seconds=60)) is None
    assert budgets.fresh_spend(cached, now=T0 - timedelta(seconds=1)) is None  # a clock that went back
    next_month = budgets.month_bounds(T0, "UTC")[1]
    late = budgets.InstanceSpend(cached.month_start, next_month - timedelta(seconds=10), 3.0)
    assert budgets.fresh_spend(late, now=next_month + timedelta(seconds=1)) is None  # a new month


async def spend(session: AsyncSession, job: Job, cost: float) -> None:
    run = await add_run(session, job)
    run.source_cost_usd, run.created_at = cost, T0
    await session.commit()


async def claimed_run(db: Database, session: AsyncSession, owner: User) -> Claim:
    """A playground run of ``owner``, queued through the service and claimed as the runner does."""
    run = await queue_playground_run(session, owner, now=T0)
    claim = await claims.claim(db, run.id, now=T0)
    assert claim is not None
    return claim


async def test_the_runner_reads_the_instance_month_at_most_once_a_minute(
    db: Database, session: AsyncSession, settings: Settings
) -> None:
    ceiling = settings.model_copy(update={"monthly_budget_usd": 1.0})
    owner = await make_user(session)  # no budget of their own: only the ceiling applies
    someone = await make_job(session, owner=await make_user(session))
    await spend(session, someone, 0.5)
    claim = await claimed_run(db, session, owner)

    first = await budgets.for_run(db, claim, settings=ceiling, now=T0)
    assert first is not None and first.instance_spent_usd == 0.5 and not first.reached

    await spend(session, someone, 0.75)
    within = await budgets.for_run(db, claim, settings=ceiling, now=T0 + timedelta(seconds=30))
    assert within is not None and within.instance_spent_usd == 0.5  # the minute-old sum
    exact = await budgets.for_user(session, user=owner, settings=ceiling, now=T0 + timedelta(seconds=30))
    assert exact.instance_spent_usd == 1.25 and exact.instance_reached  # pages and requests: exact

    later = await budgets.for_run(db, claim, settings=ceiling, now=T0 + timedelta(seconds=61))
    assert later is not None and later.instance_spent_usd == 1.25 and later.instance_reached
    assert later.spent_usd == 0 and not later.user_reached


async def test_without_a_ceiling_the_instance_month_is_not_read(
    db: Database, session: AsyncSession, settings: Settings
) -> None:
    owner = await make_user(session)
    await spend(session, await make_job(session, owner=await make_user(session)), 5.0)
    claim = await claimed_run(db, session, owner)
    budget = await budgets.for_run(db, claim, settings=settings, now=T0)
    assert budget is not None and budget.instance_spent_usd == 0 and not budget.reached
    assert db not in budgets._INSTANCE_SPEND  # nothing summed, nothing cached


async def test_a_claim_carries_what_its_owners_budget_needs(db: Database, session: AsyncSession) -> None:
    owner = await make_user(session)
    owner.timezone, owner.monthly_budget_usd, owner.budget_action = "Asia/Tokyo", 7.5, "offline"
    await session.commit()
    claim = await claimed_run(db, session, owner)
    assert claim.owner == claims.Owner(owner.id, "Asia/Tokyo", 7.5, "offline")


async def test_a_run_whose_owner_has_no_budget_starts_without_a_read(
    db: Database, session: AsyncSession, settings: Settings
) -> None:
    owner = await make_user(session)
    await spend(session, await make_job(session, owner=owner), 2.0)
    claim = await claimed_run(db, session, owner)
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        budget = await budgets.for_run(db, claim, settings=settings, now=T0)
        assert statements == []  # the claim read the owner: nothing to sum without a budget
        owner.monthly_budget_usd = 10.0
        await session.commit()
        second = await claimed_run(db, session, owner)
        with_budget = await budgets.for_run(db, second, settings=settings, now=T0)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert budget is not None and budget.limit_usd is None and budget.spent_usd == 0 and not budget.reached
    assert with_budget is not None and with_budget.limit_usd == 10.0 and with_budget.spent_usd == 2.0
    assert with_budget.resets_at == budgets.month_bounds(T0, owner.timezone)[1]
