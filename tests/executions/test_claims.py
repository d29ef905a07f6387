"""Batched claims: runs that start together share one read and one UPDATE. These need a database
with real, separate connections (the ``db`` fixture's sessions share one, which cannot show it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, select

from tests.conftest import fresh_database_url, make_job, make_user
from tests.executions.fakes import Clock, FakeSource
from xtrack import migrate
from xtrack.config import Settings
from xtrack.db import Database, create_engine
from xtrack.executions import claims, dispatcher, runner
from xtrack.executions.heartbeat import Heartbeats
from xtrack.executions.models import ExecutionStatus, JobExecution
from xtrack.summaries.models import Summary

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    url = fresh_database_url(request.param, "claims")
    await asyncio.to_thread(migrate.upgrade, url)
    database = Database(create_engine(url, pool_size=5))
    yield database
    await database.dispose()


async def _due_jobs(database: Database, *names: str) -> list[int]:
    """Jobs due at T0 for a new owner, dispatched: their execution ids."""
    async with database.session() as session:
        owner = await make_user(session)
        job_ids = {(await make_job(session, owner=owner, x_username=name, now=T0)).id for name in names}
    dispatched = (await dispatcher.tick(database, now=T0)).dispatched
    async with database.session() as session:
        ours = select(JobExecution.id).where(
            JobExecution.id.in_(dispatched), JobExecution.job_id.in_(job_ids)
        )
        return sorted(await session.scalars(ours))


@pytest.fixture
def source() -> FakeSource:
    """The fake source on the tests' clock, with one post from five minutes before."""
    source = FakeSource(Clock(T0))
    source.publish(T0 - timedelta(minutes=5))
    return source


async def _run(database: Database, execution_id: int, source: FakeSource, settings: Settings) -> None:
    await runner.run_execution(
        execution_id,
        now=source.clock,
        database=database,
        settings=settings,
        source=source,
        heartbeats=Heartbeats(auto_start=False),
    )


async def test_runs_started_together_are_claimed_in_one_batch_and_a_duplicate_id_once(
    database: Database, source: FakeSource, settings: Settings
) -> None:
    ids = await _due_jobs(database, "a", "b", "c", "d", "e")
    assert len(ids) == 5
    claim_updates: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().startswith("WITH claimed"):
            claim_updates.append(statement)

    engine = database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        # The first id twice, as a redelivered message would arrive beside the original.
        await asyncio.gather(*(_run(database, i, source, settings) for i in [*ids, ids[0]]))
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(claim_updates) == 1
    async with database.session() as session:
        executions = list(await session.scalars(select(JobExecution).where(JobExecution.id.in_(ids))))
        summaries = await session.scalar(
            select(func.count()).select_from(Summary).where(Summary.execution_id.in_(ids))
        )
    assert {e.status for e in executions} == {ExecutionStatus.COMPLETED.value}
    assert {e.attempt for e in executions} == {1}
    assert summaries == 5
    assert sorted(e.params["x_username"] for e in executions) == ["a", "b", "c", "d", "e"]


async def test_a_run_cancelled_while_its_batch_claims_is_given_back(
    database: Database, source: FakeSource, settings: Settings
) -> None:
    [execution_id] = await _due_jobs(database, "f")
    claiming = asyncio.create_task(claims.claim(database, execution_id, now=T0))
    await asyncio.sleep(0)  # it has joined a batch, which has not run yet
    claiming.cancel()  # its run is cancelled (a shutdown) while the batch claims it
    await asyncio.gather(*claims._CLAIMS._flushing)
    assert claiming.cancelled()
    async with database.session() as session:
        given_back = await session.get(JobExecution, execution_id)
        assert given_back is not None
        assert given_back.status == ExecutionStatus.QUEUED.value and given_back.attempt == 1
    await _run(database, execution_id, source, settings)  # handed out again, it runs as usual
    async with database.session() as session:
        done = await session.get(JobExecution, execution_id)
        assert done is not None and done.status == ExecutionStatus.COMPLETED.value
