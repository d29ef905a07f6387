"""The engine with real concurrency: its own databases, subprocesses, the real executor and loop."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from tests.conftest import fresh_database_url
from xtrack import migrate
from xtrack.config import Settings, get_settings
from xtrack.db import Database, create_engine, utcnow
from xtrack.executions.models import ExecutionStatus, JobExecution
from xtrack.jobs import service as jobs_service
from xtrack.jobs.models import Job
from xtrack.jobs.schemas import JobCreate
from xtrack.runtime import Runtime
from xtrack.summaries.models import Summary
from xtrack.users import service as users_service
from xtrack.users.models import UserStatus

TICKER = textwrap.dedent(
    """
    import asyncio, sys, time
    from datetime import datetime
    from xtrack.db import Database, create_engine
    from xtrack.executions.dispatcher import tick

    async def main() -> None:
        url, now = sys.argv[1], datetime.fromisoformat(sys.argv[2])
        ticks, batch = int(sys.argv[3]), int(sys.argv[4])
        database = Database(create_engine(url, pool_size=2))
        async with database.engine.connect():
            pass  # connected and imported: now wait for the common start
        await asyncio.sleep(max(0.0, float(sys.argv[5]) - time.time()))
        created = 0
        for _ in range(ticks):
            created += len((await tick(database, now=now, lease_seconds=3600, batch_size=batch)).dispatched)
        await database.dispose()
        print(created)

    asyncio.run(main())
    """
)


async def _seed_due_jobs(url: str, count: int, *, due_at: datetime) -> None:
    database = Database(create_engine(url, pool_size=2))
    try:
        async with database.session() as session:
            await session.execute(
                text(
                    "INSERT INTO users (email, password_hash, status, created_at, is_admin, timezone, theme) "
                    "VALUES ('owner@example.com', 'x', 'ACTIVE', now(), false, 'UTC', 'system')"
                )
            )
            await session.execute(
                text(
                    "INSERT INTO jobs (user_id, x_username, frequency, topics, is_active, language,"
                    " next_run_at, created_at, updated_at) "
                    "SELECT u.id, 'user' || g, 60, '[\"ai\"]'::jsonb, true, 'en', :due, now(), now() "
                    "FROM generate_series(1, :count) AS g, users AS u"
                ),
                {"due": due_at, "count": count},
            )
    finally:
        await database.dispose()


async def _count(url: str) -> tuple[int, int, int]:
    database = Database(create_engine(url, pool_size=1))
    try:
        async with database.session() as session:
            executions = await session.scalar(select(func.count()).select_from(JobExecution))
            jobs = await session.scalar(select(func.count(func.distinct(JobExecution.job_id))))
            due = await session.scalar(
                select(func.count()).select_from(Job).where(Job.next_run_at <= utcnow())
            )
            return int(executions or 0), int(jobs or 0), int(due or 0)
    finally:
        await database.dispose()


@pytest.mark.process
def test_two_dispatcher_processes_create_exactly_one_execution_per_due_job() -> None:
    url = fresh_database_url("postgresql", "two_dispatchers")
    migrate.upgrade(url)
    now = datetime.now(UTC)
    asyncio.run(_seed_due_jobs(url, 1000, due_at=now - timedelta(minutes=1)))
    # Small batches and a common start time, so the two processes race over many ticks.
    start_at = time.time() + 3
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", TICKER, url, now.isoformat(), "30", "40", str(start_at)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "XTRACK_LOG_LEVEL": "WARNING"},
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], [err for _out, err in outputs]
    created = [int(out.strip().splitlines()[-1]) for out, _err in outputs]
    print("created per process:", created)
    assert sum(created) == 1000
    assert asyncio.run(_count(url)) == (1000, 1000, 0)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_background_engine_runs_new_jobs_end_to_end(kind: str, settings: Settings) -> None:
    """``xtrack serve``'s engine: the loop dispatches new jobs within a tick, the local executor runs
    them through the configured (demo) source and (extractive) summarizer."""
    url = fresh_database_url(kind, "engine_e2e")
    await asyncio.to_thread(migrate.upgrade, url)
    database = Database(create_engine(url, pool_size=10))
    engine_settings = settings.model_copy(
        update={"scheduler_tick_seconds": 0.05, "lease_seconds": 10, "executor_concurrency": 8}
    )
    try:
        async with database.session() as session:
            owner = await users_service.create(
                session,
                email=f"e2e-{kind}@example.com",
                password="correct horse battery",
                status=UserStatus.ACTIVE,
                settings=get_settings(),
            )
            for i in range(12):
                await jobs_service.create(
                    session,
                    owner=owner,
                    data=JobCreate(x_username=f"demo{i}", topics=["AI"]),
                    max_jobs=50,
                    now=utcnow(),
                )
        engine = await Runtime.open(engine_settings, database=database, scheduler=True)
        try:
            for _ in range(300):
                async with database.session() as session:
                    done = await session.scalar(
                        select(func.count())
                        .select_from(JobExecution)
                        .where(JobExecution.status == ExecutionStatus.COMPLETED.value)
                    )
                if done == 12:
                    break
                await asyncio.sleep(0.05)
        finally:
            await engine.close(grace_seconds=5)
        async with database.session() as session:
            executions = list(await session.scalars(select(JobExecution)))
            summaries = await session.scalar(select(func.count()).select_from(Summary))
            cursors = list(await session.scalars(select(Job.last_post_id)))
        assert len(executions) == 12, [(e.status, e.error_message) for e in executions]
        assert {e.status for e in executions} == {ExecutionStatus.COMPLETED.value}
        assert all(e.tweets_fetched > 0 for e in executions) and summaries == 12
        assert all(cursor is not None for cursor in cursors)
    finally:
        await database.dispose()
