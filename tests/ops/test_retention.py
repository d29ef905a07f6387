"""Retention: old history and unneeded posts go; active runs, summaries and posts a job still needs stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import make_user
from xtrack.config import Settings
from xtrack.db import Database
from xtrack.executions.models import JobExecution
from xtrack.jobs.models import Job, JobAccount
from xtrack.ops.maintenance import (
    PRUNE_TASK,
    Housekeeping,
    beat,
    claim_daily,
    finish_daily,
    prune,
)
from xtrack.ops.models import MaintenanceRun, SchedulerHeartbeat
from xtrack.posts.models import StoredPost, XAccount
from xtrack.sources.ids import snowflake
from xtrack.summaries.models import Summary
from xtrack.users.models import User

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _days(n: float) -> datetime:
    return NOW - timedelta(days=n)


async def _job(session: AsyncSession, owner: User, username: str, *, cursor: str | None = None) -> Job:
    job = Job(
        user_id=owner.id,
        x_username=username,
        frequency=60,
        topics=["ai"],
        next_run_at=NOW + timedelta(hours=1),
        last_post_id=cursor,
        last_run=_days(1) if cursor else None,
        created_at=_days(200),
    )
    session.add(job)
    await session.flush()
    return job


async def _run(
    session: AsyncSession,
    owner: User,
    job: Job | None,
    *,
    status: str,
    age_days: float,
    retry_of: JobExecution | None = None,
) -> JobExecution:
    created = _days(age_days)
    finished = status in ("COMPLETED", "FAILED", "CANCELLED")
    run = JobExecution(
        job_id=job.id if job else None,
        user_id=owner.id,
        status=status,
        trigger="PLAYGROUND" if job is None else "SCHEDULED" if retry_of is None else "MANUAL",
        params={"x_username": "alice"},
        created_at=created,
        started_at=created if status != "QUEUED" else None,
        completed_at=created + timedelta(seconds=3) if finished else None,
        scheduled_for=created if job is not None and retry_of is None else None,
        retry_of_id=retry_of.id if retry_of else None,
        error_kind="upstream" if status == "FAILED" else None,
    )
    session.add(run)
    await session.flush()
    return run


async def _summary(session: AsyncSession, run: JobExecution) -> Summary:
    summary = Summary(
        job_id=run.job_id,
        execution_id=run.id,
        user_id=run.user_id,
        is_playground=run.job_id is None,
        x_username="alice",
        topics=["ai"],
        content="## A summary worth keeping",
        tweets_count=3,
        created_at=run.created_at,
    )
    session.add(summary)
    await session.flush()
    return summary


def _settings(settings: Settings, **values: int) -> Settings:
    return settings.model_copy(
        update={"retention_days": 90, "post_retention_days": 30, "retention_max_runs_per_job": 1000, **values}
    )


async def _ids(session: AsyncSession) -> set[int]:
    session.expire_all()
    return set(await session.scalars(select(JobExecution.id)))


async def test_old_finished_runs_go_active_runs_and_every_summary_stay(
    db: Database, session: AsyncSession, settings: Settings
) -> None:
    owner = await make_user(session)
    job_a = await _job(session, owner, "alice")
    job_b = await _job(session, owner, "bob")
    old_completed = await _run(session, owner, job_a, status="COMPLETED", age_days=120)
    old_failed = await _run(session, owner, job_a, status="FAILED", age_days=100)
    old_cancelled = await _run(session, owner, job_a, status="CANCELLED", age_days=95)
    old_running = await _run(
        session, owner, job_a, status="RUNNING", age_days=91
    )  # a stuck run: the reaper's
    old_queued = await _run(session, owner, job_b, status="QUEUED", age_days=150)
    old_playground = await _run(session, owner, None, status="COMPLETED", age_days=91)
    retry = await _run(session, owner, job_b, status="FAILED", age_days=10, retry_of=old_failed)
    young = await _run(session, owner, job_a, status="COMPLETED", age_days=89)
    kept_summary = await _summary(session, old_completed)
    playground_summary = await _summary(session, old_playground)
    await session.commit()
    kept = {old_running.id, old_queued.id, retry.id, young.id}
    summary_ids, job_a_id, retry_id = (kept_summary.id, playground_summary.id), job_a.id, retry.id
    assert old_cancelled.id not in kept

    result = await prune(db, _settings(settings), now=NOW, batch_size=2)  # several batches

    assert result.executions_deleted == 4
    assert await _ids(session) == kept
    summaries = {s.id: s for s in await session.scalars(select(Summary))}
    assert set(summaries) == set(summary_ids)  # summaries are never pruned
    assert summaries[summary_ids[0]].execution_id is None and summaries[summary_ids[0]].job_id == job_a_id
    assert summaries[summary_ids[1]].execution_id is None
    retried = await session.get(JobExecution, retry_id)
    assert retried is not None and retried.retry_of_id is None


async def test_a_job_keeps_at_most_its_newest_runs(
    db: Database, session: AsyncSession, settings: Settings
) -> None:
    owner = await make_user(session)
    job = await _job(session, owner, "alice")
    other = await _job(session, owner, "bob")
    runs = [await _run(session, owner, job, status="COMPLETED", age_days=10 - i) for i in range(5)]
    running = await _run(session, owner, job, status="RUNNING", age_days=0.1)
    others = [await _run(session, owner, other, status="FAILED", age_days=5 - i) for i in range(3)]
    await session.commit()
    kept = {runs[3].id, runs[4].id, running.id, *(run.id for run in others)}

    result = await prune(db, _settings(settings, retention_max_runs_per_job=3), now=NOW)

    # The newest three rows of the job are kept (the running one counts); the other job is under the cap.
    assert result.executions_deleted == 3
    assert await _ids(session) == kept


async def _account(session: AsyncSession, username: str) -> XAccount:
    account = XAccount(
        source="demo",
        username=username,
        external_id=f"id-{username}",
        covered_since=_days(60),
        last_fetched_at=NOW - timedelta(minutes=5),
        created_at=_days(60),
    )
    session.add(account)
    await session.flush()
    return account


async def _posts(session: AsyncSession, account: XAccount, *ages: float) -> list[StoredPost]:
    posts = []
    for age in ages:
        created = _days(age)
        post = StoredPost(
            account_id=account.id,
            external_id=str(snowflake(created)),
            sort_key=snowflake(created),
            author_username=account.username,
            text=f"post from {age} days ago",
            url="https://x.com/status/1",
            created_at=created,
        )
        session.add(post)
        posts.append(post)
    await session.flush()
    return posts


async def test_posts_a_cursor_has_not_passed_are_kept(
    db: Database, session: AsyncSession, settings: Settings
) -> None:
    owner = await make_user(session)
    alice = await _account(session, "alice")
    a40, a35, a20, a1 = await _posts(session, alice, 40, 35, 20, 1)
    # Two jobs follow @alice (one typed "Alice"): the slower cursor decides.
    await _job(session, owner, "Alice", cursor=a35.external_id)
    await _job(session, owner, "alice", cursor=a1.external_id)
    bob = await _account(session, "bob")  # nobody follows bob any more
    b40, b35, b1 = await _posts(session, bob, 40, 35, 1)
    carol = await _account(session, "carol")  # followed by a job that has read everything
    c40, c2 = await _posts(session, carol, 40, 2)
    await _job(session, owner, "carol", cursor=c2.external_id)
    dave = await _account(session, "dave")  # followed by a job that never ran: its first window is 24 h
    d31, d0 = await _posts(session, dave, 31, 0.5)
    await _job(session, owner, "dave")
    await session.commit()
    kept = {a35.id, a20.id, a1.id, b1.id, c2.id, d0.id}
    step = timedelta(microseconds=1)
    expected = {
        "alice": a40.created_at + step,
        "bob": b35.created_at + step,
        "carol": c40.created_at + step,
        "dave": d31.created_at + step,
    }
    assert b40.created_at < b35.created_at

    result = await prune(db, _settings(settings), now=NOW)

    session.expire_all()
    assert set(await session.scalars(select(StoredPost.id))) == kept
    assert result.posts_deleted == 5 and result.accounts_advanced == 4
    # covered_since moves just past the newest deleted post: everything after it is still stored.
    covered = {a.username: a.covered_since for a in await session.scalars(select(XAccount))}
    assert covered == expected

    again = await prune(db, _settings(settings), now=NOW)  # nothing left to do
    assert again.posts_deleted == 0 and again.accounts_advanced == 0


async def test_the_daily_lease_lets_one_scheduler_prune_per_day(db: Database) -> None:
    assert await claim_daily(db, task=PRUNE_TASK, holder="one", now=NOW)
    assert not await claim_daily(db, task=PRUNE_TASK, holder="two", now=NOW + timedelta(minutes=1))
    await finish_daily(db, task=PRUNE_TASK, holder="one", now=NOW + timedelta(minutes=2), result={"posts": 1})
    assert not await claim_daily(db, task=PRUNE_TASK, holder="two", now=NOW + timedelta(hours=12))
    assert await claim_daily(db, task=PRUNE_TASK, holder="two", now=NOW + timedelta(hours=24))
    # "two" dies mid-prune: once its lease runs out, someone else takes over (no result recorded).
    assert not await claim_daily(
        db, task=PRUNE_TASK, holder="three", now=NOW + timedelta(hours=24, minutes=30)
    )
    assert await claim_daily(db, task=PRUNE_TASK, holder="three", now=NOW + timedelta(hours=25, minutes=1))


async def test_housekeeping_beats_and_prunes_once(
    db: Database, session: AsyncSession, settings: Settings
) -> None:
    owner = await make_user(session)
    job = await _job(session, owner, "alice")
    old = await _run(session, owner, job, status="COMPLETED", age_days=200)
    await beat(db, instance_id="long-gone", now=NOW - timedelta(days=3), started_at=NOW - timedelta(days=3))
    await session.commit()
    old_id = old.id
    housekeeping = Housekeeping(db, _settings(settings), instance_id="scheduler-1")

    await housekeeping.on_tick(NOW)
    await housekeeping.wait()
    await housekeeping.on_tick(NOW + timedelta(seconds=5))  # not due again today

    assert old_id not in await _ids(session)
    beats = {row.instance_id: row.beat_at for row in await session.scalars(select(SchedulerHeartbeat))}
    assert beats == {"scheduler-1": NOW + timedelta(seconds=5)}  # the dead scheduler's row was pruned
    run = await session.get(MaintenanceRun, PRUNE_TASK, populate_existing=True)
    assert run is not None and run.last_finished_at == NOW and run.holder is None
    assert run.last_result is not None and run.last_result["executions_deleted"] == 1
    assert run.last_result["heartbeats_deleted"] == 1


async def test_posts_a_briefing_still_needs_are_kept_for_its_other_accounts(
    db: Database, session: AsyncSession, settings: Settings
) -> None:
    owner = await make_user(session)
    erin = await _account(session, "erin")  # the second account of a briefing whose cursor is behind
    e40, e35 = await _posts(session, erin, 40, 35)
    briefing = await _job(session, owner, "frank", cursor=e35.external_id)
    session.add_all([JobAccount(job_id=briefing.id, position=0, account="frank")])
    session.add_all([JobAccount(job_id=briefing.id, position=1, account="Erin")])
    erin_id, kept = erin.id, e35.id
    assert e40.created_at < e35.created_at  # the older post is the one retention may take
    await session.commit()

    await prune(db, _settings(settings), now=NOW)

    session.expire_all()
    assert set(await session.scalars(select(StoredPost.id).where(StoredPost.account_id == erin_id))) == {kept}
