"""RunNotifications, the outbox rows a job run's outcome writes in the transaction that records it:
summaries to each recipient, the failure notice after N failed runs in a row, the recovery notice.
Rows are built through the services on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import make_job, make_user
from xtrack.config import Settings, get_settings
from xtrack.db import Database
from xtrack.executions.hooks import CompletedRun, FailedRun
from xtrack.executions.models import ExecutionStatus, JobExecution, Trigger
from xtrack.jobs.models import Job
from xtrack.notify import links, subscriptions
from xtrack.notify import targets as notify_targets
from xtrack.notify.models import NotificationDelivery, NotificationTarget
from xtrack.notify.outbox import RunNotifications
from xtrack.notify.schemas import JobTargetsUpdate, TargetCreate, TargetUpdate
from xtrack.summaries.models import Summary
from xtrack.users.models import User

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


async def _target(session: AsyncSession, user: User, name: str) -> NotificationTarget:
    data = TargetCreate(kind="apprise", name=name, url=f"json://127.0.0.1:9/{name.lower()}")
    return await notify_targets.create_target(session, user=user, data=data, settings=get_settings(), now=T0)


async def _choose(
    session: AsyncSession, user: User, job: Job, chosen: list[NotificationTarget], **options: Any
) -> None:
    data = JobTargetsUpdate(target_ids=[t.id for t in chosen], **options)
    await notify_targets.set_job_targets(session, user=user, job_id=job.id, data=data, now=T0)


async def _execution(session: AsyncSession, job: Job, status: ExecutionStatus) -> JobExecution:
    execution = JobExecution(
        job_id=job.id,
        user_id=job.user_id,
        status=status.value,
        trigger=Trigger.MANUAL.value,
        params={"x_username": job.x_username, "topics": [], "language": "en"},
        created_at=T0,
        completed_at=T0,
        attempt=1,
    )
    session.add(execution)
    await session.flush()
    return execution


async def _summary(session: AsyncSession, execution: JobExecution, *, posts: int = 2) -> dict[str, Any]:
    """A stored summary's values with its id, as the runner hands them over."""
    values: dict[str, Any] = {
        "job_id": execution.job_id,
        "execution_id": execution.id,
        "user_id": execution.user_id,
        "is_playground": False,
        "x_username": "alice",
        "topics": ["ai"],
        "hours_back": None,
        "content": "## Chips are back\n\nEverything about chips.",
        "tweets_count": posts,
        "raw_data": {"post_ids": ["1", "2"], "headline": "# Chips are back"},
        "created_at": T0,
    }
    summary = Summary(**values)
    session.add(summary)
    await session.flush()
    return {**values, "id": summary.id}


async def _deliveries(session: AsyncSession, job: Job) -> list[NotificationDelivery]:
    query = select(NotificationDelivery).where(NotificationDelivery.job_id == job.id)
    return list(await session.scalars(query.order_by(NotificationDelivery.id)))


async def _notified_at(session: AsyncSession, job: Job) -> datetime | None:
    return await session.scalar(select(Job.failure_notified_at).where(Job.id == job.id))


@pytest.fixture
def hooks(settings: Settings) -> RunNotifications:
    return RunNotifications(settings)


async def test_a_summary_is_written_once_for_each_recipient_of_its_job(
    db: Database, settings: Settings, hooks: RunNotifications
) -> None:
    async with db.session() as session:
        user = await make_user(session)
        job = await make_job(session, owner=user)
        team, phone, paused, left = [
            await _target(session, user, n) for n in ("Team", "Phone", "Paused", "Left")
        ]
        unused = await _target(session, user, "Unused")
        await _choose(session, user, job, [team, phone, paused, left])
        await notify_targets.update_target(
            session,
            user=user,
            target_id=paused.id,
            data=TargetUpdate(is_enabled=False),
            settings=settings,
            now=T0,
        )
        other_job = await make_job(session, owner=user, x_username="bob")
        await _choose(session, user, other_job, [unused])
    async with db.session() as session:  # "Left" unsubscribed through its link
        token = links.unsubscribe_token(settings, target_id=left.id, job_id=job.id)
        await subscriptions.unsubscribe(session, settings=settings, token=token, now=T0)
    async with db.session() as session:
        execution = await _execution(session, job, ExecutionStatus.COMPLETED)
        summary = await _summary(session, execution)
        run = CompletedRun(execution.id, job.id, summary, ["https://x.com/alice/status/1"])
        await hooks.run_completed(session, run, now=T0)
        await hooks.run_completed(session, run, now=T0)  # twice: harmless
    async with db.session() as session:
        rows = await _deliveries(session, job)
        assert await _deliveries(session, other_job) == []
    assert [(d.target_id, d.kind, d.status) for d in rows] == [
        (team.id, "summary", "PENDING"),
        (phone.id, "summary", "PENDING"),
    ]
    assert all(d.execution_id == execution.id and d.summary_id == summary["id"] for d in rows)
    assert all(d.attempts == 0 and d.next_attempt_at == T0 for d in rows)
    team_message, phone_message = (d.payload for d in rows)
    assert team_message["subject"] == "[XTrack] @alice: Chips are back"
    assert "https://x.com/alice/status/1" in team_message["text"]
    assert links.summary_url(settings, summary["id"]) == team_message["link"]
    # Each recipient's own unsubscribe link.
    assert links.unsubscribe_url(settings, target_id=team.id, job_id=job.id) in team_message["text"]
    assert links.unsubscribe_url(settings, target_id=phone.id, job_id=job.id) in phone_message["text"]


async def test_nothing_is_written_without_recipients_or_without_new_posts(
    db: Database, hooks: RunNotifications
) -> None:
    async with db.session() as session:
        user = await make_user(session)
        lonely = await make_job(session, owner=user)
        quiet = await make_job(session, owner=user, x_username="bob")
        await _choose(session, user, quiet, [await _target(session, user, "Hook")])
    async with db.session() as session:
        execution = await _execution(session, lonely, ExecutionStatus.COMPLETED)
        summary = await _summary(session, execution)
        await hooks.run_completed(session, CompletedRun(execution.id, lonely.id, summary, []), now=T0)
        nothing_new = await _execution(session, quiet, ExecutionStatus.COMPLETED)
        await hooks.run_completed(session, CompletedRun(nothing_new.id, quiet.id, None, []), now=T0)
        zero_posts = await _execution(session, quiet, ExecutionStatus.COMPLETED)
        empty = await _summary(session, zero_posts, posts=0)
        await hooks.run_completed(session, CompletedRun(zero_posts.id, quiet.id, empty, []), now=T0)
    async with db.session() as session:
        assert await _deliveries(session, lonely) == []
        assert await _deliveries(session, quiet) == []


async def test_a_run_of_a_job_with_no_recipients_and_no_notice_out_costs_one_statement(
    db: Database, hooks: RunNotifications
) -> None:
    """It runs in every completing transaction: one read, nothing written."""
    async with db.session() as session:
        job = await make_job(session)
        execution = await _execution(session, job, ExecutionStatus.COMPLETED)
        summary = await _summary(session, execution)
        statements: list[str] = []

        def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            statements.append(statement)

        engine = db.engine.sync_engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            await hooks.run_completed(session, CompletedRun(execution.id, job.id, summary, []), now=T0)
        finally:
            event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 1 and statements[0].lstrip().upper().startswith("SELECT"), statements


async def test_the_failure_notice_goes_out_once_after_n_failed_runs_in_a_row(
    db: Database, settings: Settings, hooks: RunNotifications
) -> None:
    async with db.session() as session:
        user = await make_user(session)
        job = await make_job(session, owner=user)
        hook, inbox = await _target(session, user, "Hook"), await _target(session, user, "Inbox")
        await _choose(session, user, job, [hook, inbox])
        assert job.failure_threshold == 3 and job.notify_on_failure

    async def fail(error: str) -> JobExecution:
        async with db.session() as session:
            execution = await _execution(session, job, ExecutionStatus.FAILED)
            await hooks.run_failed(session, FailedRun(execution.id, job.id, error), now=T0)
            return execution

    await fail("before")
    async with db.session() as session:  # a completed run breaks the streak
        await _execution(session, job, ExecutionStatus.COMPLETED)
    await fail("one")
    await fail("two")
    async with db.session() as session:
        assert await _deliveries(session, job) == []
        assert await _notified_at(session, job) is None
    three = await fail("@alice does not exist")
    async with db.session() as session:
        notices = await _deliveries(session, job)
        assert await _notified_at(session, job) == T0
    assert [(d.target_id, d.kind, d.execution_id) for d in notices] == [
        (hook.id, "failure", three.id),
        (inbox.id, "failure", three.id),
    ]
    assert notices[0].payload["subject"] == "[XTrack] @alice: 3 runs in a row failed"
    assert "does not exist" in notices[0].payload["text"]
    assert notices[0].payload["link"] == links.job_url(settings, job.id)
    await fail("still failing")  # the same streak: no second notice
    async with db.session() as session:
        assert len(await _deliveries(session, job)) == 2


async def test_failure_notices_turned_off_are_not_written(db: Database, hooks: RunNotifications) -> None:
    async with db.session() as session:
        user = await make_user(session)
        job = await make_job(session, owner=user)
        await _choose(session, user, job, [await _target(session, user, "Hook")], notify_on_failure=False)
    async with db.session() as session:
        for _ in range(4):
            execution = await _execution(session, job, ExecutionStatus.FAILED)
            await hooks.run_failed(session, FailedRun(execution.id, job.id, "gone"), now=T0)
    async with db.session() as session:
        assert await _deliveries(session, job) == []
        assert await _notified_at(session, job) is None


async def test_a_completed_run_after_a_failure_notice_sends_one_recovery_notice(
    db: Database, settings: Settings, hooks: RunNotifications
) -> None:
    async with db.session() as session:
        user = await make_user(session)
        job = await make_job(session, owner=user)
        hook = await _target(session, user, "Hook")
        await _choose(session, user, job, [hook], failure_threshold=1)
        failed = await _execution(session, job, ExecutionStatus.FAILED)
        await hooks.run_failed(session, FailedRun(failed.id, job.id, "down"), now=T0)
    later = T0 + timedelta(hours=1)
    async with db.session() as session:
        completed = await _execution(session, job, ExecutionStatus.COMPLETED)
        summary = await _summary(session, completed)
        await hooks.run_completed(session, CompletedRun(completed.id, job.id, summary, []), now=later)
    async with db.session() as session:
        again = await _execution(session, job, ExecutionStatus.COMPLETED)
        await hooks.run_completed(session, CompletedRun(again.id, job.id, None, []), now=later)
    async with db.session() as session:
        rows = await _deliveries(session, job)
        assert await _notified_at(session, job) is None  # the streak is over
    assert [(d.kind, d.execution_id) for d in rows] == [
        ("failure", failed.id),
        ("summary", completed.id),
        ("recovery", completed.id),  # once: the next completed run sends none
    ]
    assert rows[2].payload["subject"] == "[XTrack] @alice: runs work again"
    assert rows[2].target_id == hook.id and rows[2].next_attempt_at == later


async def test_a_notice_out_for_a_job_without_recipients_is_still_cleared(
    db: Database, hooks: RunNotifications
) -> None:
    async with db.session() as session:
        job = await make_job(session)
        for _ in range(3):
            failed = await _execution(session, job, ExecutionStatus.FAILED)
            await hooks.run_failed(session, FailedRun(failed.id, job.id, "down"), now=T0)
        assert await _notified_at(session, job) == T0  # the streak is marked, though nobody is told
        completed = await _execution(session, job, ExecutionStatus.COMPLETED)
        await hooks.run_completed(session, CompletedRun(completed.id, job.id, None, []), now=T0)
        assert await _notified_at(session, job) is None
        assert await _deliveries(session, job) == []


async def test_a_briefing_account_failing_three_runs_in_a_row_is_one_notice_per_recipient(
    db: Database, settings: Settings, hooks: RunNotifications
) -> None:
    async with db.session() as session:
        user = await make_user(session)
        job = await make_job(session, owner=user)
        phone = await _target(session, user, "Phone")
        await _choose(session, user, job, [phone])
    async with db.session() as session:
        execution = await _execution(session, job, ExecutionStatus.COMPLETED)
        warning = "@carol was skipped: it is suspended."
        run = CompletedRun(execution.id, job.id, None, [], failing_accounts=[warning])
        await hooks.run_completed(session, run, now=T0)
        await hooks.run_completed(session, run, now=T0)  # twice: harmless
    async with db.session() as session:
        rows = await _deliveries(session, job)
    assert [(d.target_id, d.kind) for d in rows] == [(phone.id, "failure")]
    message = rows[0].payload
    assert "keep failing" in message["subject"] and warning in message["text"]
    assert "The other accounts are still summarized." in message["text"]
