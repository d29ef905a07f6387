"""Stale-source and failing-job flags: the pure rule, and the one-query service the dashboard uses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import make_user
from xtrack.executions.health import HealthState, RunSample, assess, job_health, usual_gap
from xtrack.executions.models import JobExecution
from xtrack.jobs.models import Job
from xtrack.posts.models import StoredPost, XAccount
from xtrack.sources.ids import snowflake

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CREATED = NOW - timedelta(days=60)


def ok(at: datetime, posts: int = 3) -> RunSample:
    return RunSample("COMPLETED", None, posts, at)


def failed(at: datetime, kind: str = "upstream") -> RunSample:
    return RunSample("FAILED", kind, 0, at)


def _assess(runs: list[RunSample], newest_post_at: datetime | None, **kwargs: object) -> HealthState:
    options: dict[str, object] = {"is_active": True, "created_at": CREATED, "now": NOW, **kwargs}
    return assess(runs, username="alice", newest_post_at=newest_post_at, **options).state  # type: ignore[arg-type]


def test_an_account_on_its_usual_cadence_is_ok() -> None:
    runs = [ok(NOW - timedelta(days=d)) for d in range(0, 20)]  # new posts every day
    assert _assess(runs, NOW - timedelta(hours=3)) is HealthState.OK
    assert usual_gap(runs) == timedelta(days=1)


def test_silence_far_beyond_the_cadence_is_stale() -> None:
    # Daily posts until 12 days ago, then nothing although the job kept running.
    runs = [ok(NOW - timedelta(days=d), posts=0) for d in range(0, 12)]
    runs += [ok(NOW - timedelta(days=d)) for d in range(12, 20)]
    health = assess(
        runs,
        username="alice",
        newest_post_at=NOW - timedelta(days=12),
        is_active=True,
        created_at=CREATED,
        now=NOW,
    )
    assert health.state is HealthState.STALE and health.flagged
    assert health.reason is not None and "@alice" in health.reason and "12 days" in health.reason
    # Ten times the usual gap is the threshold: a weekly poster is not stale after 12 days.
    weekly = [ok(NOW - timedelta(days=d), posts=0) for d in range(0, 12)]
    weekly += [ok(NOW - timedelta(days=d)) for d in (12, 19, 26, 33)]
    assert _assess(weekly, NOW - timedelta(days=12)) is HealthState.OK
    silent_since_71 = [ok(NOW - timedelta(days=d), posts=0) for d in range(0, 71, 5)]
    silent_since_71 += [ok(NOW - timedelta(days=d)) for d in (71, 78, 85, 92)]
    assert _assess(silent_since_71, NOW - timedelta(days=71)) is HealthState.STALE
    # Pruned posts: the runs that found posts still say when the account last published.
    assert _assess(weekly, None) is HealthState.OK
    assert _assess(silent_since_71, None) is HealthState.STALE


def test_at_least_seven_days_of_silence_before_stale() -> None:
    def hourly_until(days: int) -> list[RunSample]:
        quiet = [ok(NOW - timedelta(hours=h), posts=0) for h in range(0, days * 24, 12)]
        return quiet + [ok(NOW - timedelta(days=days, hours=h)) for h in range(4)]

    assert usual_gap(hourly_until(6)) == timedelta(hours=1)
    assert _assess(hourly_until(6), NOW - timedelta(days=6)) is HealthState.OK
    assert _assess(hourly_until(8), NOW - timedelta(days=8)) is HealthState.STALE


def test_paused_and_new_jobs_are_not_stale() -> None:
    runs = [ok(NOW - timedelta(days=d), posts=0) for d in range(20)]
    assert _assess(runs, NOW - timedelta(days=100), is_active=False) is HealthState.OK
    assert _assess([], None) is HealthState.OK  # never ran
    assert _assess([ok(NOW, posts=0)], None, created_at=NOW - timedelta(days=2)) is HealthState.OK
    assert _assess([ok(NOW, posts=0)], None, created_at=NOW - timedelta(days=9)) is HealthState.STALE


def test_repeated_failures_are_failing() -> None:
    two = [failed(NOW), failed(NOW - timedelta(hours=1)), ok(NOW - timedelta(hours=2))]
    assert _assess(two, NOW) is HealthState.OK
    three = [failed(NOW - timedelta(hours=h), "rate_limited") for h in range(3)] + [
        ok(NOW - timedelta(hours=4))
    ]
    health = assess(three, username="alice", newest_post_at=NOW, is_active=True, created_at=CREATED, now=NOW)
    assert health.state is HealthState.FAILING and health.consecutive_failures == 3
    assert health.reason == "The last 3 runs failed (rate_limited)."
    # Cancelled and active runs do not break or extend a streak.
    mixed = [RunSample("RUNNING"), failed(NOW), RunSample("CANCELLED"), failed(NOW), failed(NOW)]
    assert _assess(mixed, NOW) is HealthState.FAILING


def test_a_permanent_failure_is_failing_at_once() -> None:
    assert (
        _assess([failed(NOW, "source_not_found"), ok(NOW - timedelta(hours=1))], None) is HealthState.FAILING
    )
    assert _assess([failed(NOW, "upstream"), ok(NOW - timedelta(hours=1))], None) is HealthState.OK


async def test_job_health_for_every_job_of_a_user(session: AsyncSession) -> None:
    owner = await make_user(session)
    stranger = await make_user(session)

    def job(username: str, user_id: int = owner.id) -> Job:
        return Job(user_id=user_id, x_username=username, frequency=60 * 24, topics=["ai"], created_at=CREATED)

    quiet, broken, fine, fresh, theirs = (
        job("Quiet"),
        job("broken"),
        job("fine"),
        job("fresh"),
        job("x", stranger.id),
    )
    session.add_all([quiet, broken, fine, fresh, theirs])
    await session.flush()
    for name, last_post_days in (("quiet", 30), ("fine", 0.5)):
        account = XAccount(source="demo", username=name, created_at=CREATED)
        session.add(account)
        await session.flush()
        created = NOW - timedelta(days=last_post_days)
        session.add(
            StoredPost(
                account_id=account.id,
                external_id=str(snowflake(created)),
                sort_key=snowflake(created),
                author_username=name,
                text="hello",
                url="https://x.com/s/1",
                created_at=created,
            )
        )

    def run(
        target: Job, status: str, days_ago: float, posts: int = 0, kind: str | None = None
    ) -> JobExecution:
        at = NOW - timedelta(days=days_ago)
        return JobExecution(
            job_id=target.id,
            user_id=target.user_id,
            status=status,
            trigger="SCHEDULED",
            params={},
            created_at=at,
            started_at=at,
            completed_at=at,
            tweets_fetched=posts,
            error_kind=kind,
        )

    session.add_all([run(quiet, "COMPLETED", d, posts=2 if d >= 30 else 0) for d in range(0, 40, 2)])
    session.add_all([run(broken, "FAILED", d, kind="source_auth") for d in (0.1, 0.2, 0.3)])
    session.add_all([run(fine, "COMPLETED", d, posts=1) for d in (0.5, 1.5, 2.5)])
    session.add_all([run(theirs, "FAILED", d) for d in (0.1, 0.2, 0.3)])
    await session.flush()

    health = await job_health(session, user_id=owner.id, now=NOW)

    assert set(health) == {quiet.id, broken.id, fine.id, fresh.id}  # the stranger's job is not there
    assert health[quiet.id].state is HealthState.STALE
    assert health[quiet.id].last_post_at == NOW - timedelta(days=30)
    assert health[broken.id].state is HealthState.FAILING and health[broken.id].consecutive_failures == 3
    assert health[fine.id].state is HealthState.OK and health[fine.id].usual_gap == timedelta(days=1)
    assert health[fresh.id].state is HealthState.OK and health[fresh.id].last_post_at is None
