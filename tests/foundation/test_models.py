from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import make_user
from xtrack.executions.models import JobExecution
from xtrack.jobs.models import Job
from xtrack.summaries.models import Summary

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


async def _job(session: AsyncSession) -> Job:
    user = await make_user(session)
    job = Job(user_id=user.id, x_username="alice", frequency=60, topics=["ai"], next_run_at=NOW)
    session.add(job)
    await session.flush()
    return job


async def test_deleting_a_job_deletes_its_executions_and_summaries(session: AsyncSession) -> None:
    job = await _job(session)
    execution = JobExecution(job_id=job.id, user_id=job.user_id, status="COMPLETED", trigger="MANUAL")
    session.add(execution)
    await session.flush()
    session.add(Summary(job_id=job.id, execution_id=execution.id, user_id=job.user_id, content="x"))
    await session.flush()

    await session.execute(delete(Job).where(Job.id == job.id))
    assert await session.scalar(select(func.count()).select_from(JobExecution)) == 0
    assert await session.scalar(select(func.count()).select_from(Summary)) == 0


async def test_pruning_an_execution_keeps_its_summary(session: AsyncSession) -> None:
    job = await _job(session)
    execution = JobExecution(job_id=job.id, user_id=job.user_id, status="COMPLETED", trigger="MANUAL")
    session.add(execution)
    await session.flush()
    summary = Summary(job_id=job.id, execution_id=execution.id, user_id=job.user_id, content="kept")
    session.add(summary)
    await session.flush()
    await session.execute(delete(JobExecution).where(JobExecution.id == execution.id))
    await session.refresh(summary)
    assert summary.execution_id is None


async def test_a_playground_summary_has_no_job(session: AsyncSession) -> None:
    user = await make_user(session)
    summary = Summary(
        job_id=None,
        user_id=user.id,
        is_playground=True,
        x_username="alice",
        topics=["ai", "chips"],
        hours_back=24,
        content="# Headline",
        tweets_count=3,
        raw_data={"post_ids": ["1", "2", "3"]},
    )
    session.add(summary)
    await session.flush()
    loaded = await session.get(Summary, summary.id)
    assert loaded is not None and loaded.job_id is None and loaded.topics == ["ai", "chips"]


async def test_one_active_execution_per_job(session: AsyncSession) -> None:
    job = await _job(session)
    session.add(JobExecution(job_id=job.id, user_id=job.user_id, status="QUEUED", trigger="MANUAL"))
    await session.flush()
    session.add(JobExecution(job_id=job.id, user_id=job.user_id, status="RUNNING", trigger="MANUAL"))
    with pytest.raises(IntegrityError):
        await session.flush()


async def test_one_scheduled_execution_per_slot(session: AsyncSession) -> None:
    job = await _job(session)
    slot = NOW
    session.add(
        JobExecution(
            job_id=job.id, user_id=job.user_id, status="COMPLETED", trigger="SCHEDULED", scheduled_for=slot
        )
    )
    await session.flush()
    # A manual run at the same instant is fine; a second scheduled run for the slot is not.
    session.add(
        JobExecution(
            job_id=job.id, user_id=job.user_id, status="COMPLETED", trigger="MANUAL", scheduled_for=slot
        )
    )
    await session.flush()
    session.add(
        JobExecution(
            job_id=job.id, user_id=job.user_id, status="FAILED", trigger="SCHEDULED", scheduled_for=slot
        )
    )
    with pytest.raises(IntegrityError):
        await session.flush()


async def test_status_is_checked_by_the_database(session: AsyncSession) -> None:
    job = await _job(session)
    session.add(JobExecution(job_id=job.id, user_id=job.user_id, status="DONE", trigger="MANUAL"))
    with pytest.raises(IntegrityError):
        await session.flush()


async def test_times_come_back_timezone_aware_and_naive_ones_are_refused(session: AsyncSession) -> None:
    job = await _job(session)
    await session.refresh(job)
    assert job.next_run_at == NOW and job.next_run_at.tzinfo is not None
    job.next_run_at = datetime(2026, 1, 1, 12) + timedelta(hours=1)  # naive
    with pytest.raises(Exception, match="naive datetime"):
        await session.flush()
