"""Briefings end to end through the runner: several accounts read from a fake X API over real HTTP,
filtered, reposts folded, one summary; partial failures; one upstream read per post across jobs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import fresh_database_url, make_user
from tests.executions.fakes import Clock
from tests.fakes.server import serve_app
from tests.sources.fakes import FakeUser, FakeX
from tests.summarize.conftest import llm_settings
from tests.summarize.fakes import FakeLLM, Reply, openai_reply
from xtrack import migrate
from xtrack.config import Settings, set_settings
from xtrack.db import Database, create_engine
from xtrack.executions import dispatcher
from xtrack.executions import service as executions_service
from xtrack.executions.briefing import failure_streaks
from xtrack.executions.heartbeat import Heartbeats
from xtrack.executions.hooks import CompletedRun, NoHooks, RunHooks
from xtrack.executions.models import ExecutionStatus, JobExecution
from xtrack.executions.runner import run_execution
from xtrack.executions.schemas import ExecutionRead
from xtrack.jobs import service as jobs_service
from xtrack.jobs.models import Job
from xtrack.jobs.schemas import JobCreate
from xtrack.posts.models import SourceLimit, StoredPost, XAccount
from xtrack.sources.ids import snowflake
from xtrack.sources.x import XSource
from xtrack.summaries.models import Summary
from xtrack.summarize.base import Summarizer
from xtrack.summarize.openai import OpenAISummarizer
from xtrack.users.models import User

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def own_database(request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    """Real, separate connections: a briefing reads its accounts concurrently (the ``db``
    fixture's sessions all share one connection)."""
    url = fresh_database_url(request.param, "briefings")
    await asyncio.to_thread(migrate.upgrade, url)
    database = Database(create_engine(url, pool_size=10))
    yield database
    await database.dispose()


@pytest.fixture
async def db(own_database: Database, settings: Settings) -> AsyncIterator[Database]:
    set_settings(settings)
    yield own_database
    async with own_database.session() as session:
        for table in (StoredPost, XAccount, SourceLimit, Job, User):
            await session.execute(delete(table))


@pytest.fixture
def fake_x() -> Iterator[tuple[FakeX, str]]:
    fake = FakeX()
    with serve_app(fake.app) as base_url:
        yield fake, base_url


@pytest.fixture
async def x_source(fake_x: tuple[FakeX, str]) -> AsyncIterator[XSource]:
    source = XSource(
        base_url=fake_x[1],
        bearer_token="good-token",
        public_url="http://xtrack.test",
        timeout=2.0,
        max_retries=1,
        retry_base_seconds=0.01,
    )
    yield source
    await source.aclose()


@pytest.fixture
def openai_server() -> Iterator[tuple[FakeLLM, str]]:
    fake = FakeLLM("/v1/chat/completions", openai_reply)
    with serve_app(fake.app) as base_url:
        yield fake, f"{base_url}/v1"


def publish(user: FakeUser, minutes_ago: int, text: str, **refs: str) -> str:
    """A post of ``user`` ``minutes_ago`` before NOW; ``refs``: type -> referenced post id."""
    created = NOW - timedelta(minutes=minutes_ago)
    post_id = str(snowflake(created, len(user.posts) + 1))
    post: dict[str, Any] = {"id": post_id, "text": text, "created_at": created}
    # An explicit (possibly empty) reference list: the fake's every-seventh-id reply rule stays off.
    post["referenced_tweets"] = [{"type": kind, "id": ref} for kind, ref in refs.items()]
    user.posts.append(post)
    user.posts.sort(key=lambda p: int(p["id"]))
    return post_id


async def _job(session: AsyncSession, accounts: list[str], **fields: Any) -> Job:
    owner = await make_user(session)
    data = JobCreate.model_validate({"accounts": accounts, "topics": ["chips"], "frequency": 60, **fields})
    job = await jobs_service.create(session, owner=owner, data=data, max_jobs=100, now=NOW)
    await session.commit()
    return job


async def _run_now(
    db: Database,
    session: AsyncSession,
    job: Job,
    source: XSource,
    settings: Settings,
    summarizer: Summarizer | None,
) -> JobExecution:
    execution = await executions_service.run_now(
        session, owner_id=job.user_id, job_id=job.id, now=NOW, executor=None
    )
    await session.commit()
    await _run(db, execution.id, source, settings, summarizer)
    found = await session.get(JobExecution, execution.id, populate_existing=True)
    assert found is not None
    return found


async def _run(
    db: Database,
    execution_id: int,
    source: XSource,
    settings: Settings,
    summarizer: Summarizer | None = None,
    hooks: RunHooks | None = None,
) -> None:
    await run_execution(
        execution_id,
        database=db,
        settings=settings,
        source=source,
        heartbeats=Heartbeats(auto_start=False),
        summarizer=summarizer,
        hooks=hooks,
        now=Clock(NOW),
    )


class RecordingHooks(NoHooks):
    def __init__(self) -> None:
        self.completed: list[CompletedRun] = []

    async def run_completed(self, session: AsyncSession, run: CompletedRun, *, now: datetime) -> None:
        self.completed.append(run)


async def test_three_accounts_one_summary_without_replies_and_the_repost_once(
    db: Database,
    session: AsyncSession,
    settings: Settings,
    fake_x: tuple[FakeX, str],
    x_source: XSource,
    openai_server: tuple[FakeLLM, str],
) -> None:
    fake, _ = fake_x
    alice, bob, carol = fake.add_user("alice"), fake.add_user("bob"), fake.add_user("carol")
    original = publish(bob, 50, "New GPU chips ship next week")
    repost = publish(alice, 40, "RT @bob: New GPU chips ship next week", retweeted=original)
    alice_own = publish(alice, 30, "Our chips roadmap, in one thread")
    carol_own = publish(carol, 20, "Foundry capacity for chips is sold out")
    reply = publish(carol, 10, "@dave agreed about chips", replied_to="123")
    llm, base_url = openai_server
    llm.reply(Reply(json=openai_reply(f"## Chips\n\n### chips\n\n- @bob: GPUs ship [{original}]")))
    summarizer = OpenAISummarizer(llm_settings("openai", base_url))
    job = await _job(session, ["alice", "bob", "carol"], filters={"exclude_replies": True})

    execution = await _run_now(db, session, job, x_source, settings, summarizer)
    await summarizer.aclose()

    assert execution.status == ExecutionStatus.COMPLETED.value, execution.error_message
    assert execution.tweets_fetched == 5 and execution.posts_summarized == 3
    assert execution.warnings is None
    assert {
        row["username"]: (row["posts_fetched"], row["posts_kept"]) for row in execution.accounts or []
    } == {
        "alice": (2, 2),
        "bob": (1, 1),
        "carol": (2, 1),
    }
    summary = (await session.scalars(select(Summary).where(Summary.execution_id == execution.id))).one()
    post_ids = summary.raw_data["post_ids"]
    assert sorted(post_ids) == sorted([original, alice_own, carol_own])  # all three, no reply, no repost
    assert reply not in post_ids and repost not in post_ids
    assert summary.raw_data["accounts"] == ["alice", "bob", "carol"]
    assert summary.raw_data["reposted_by"] == {original: ["alice"]}
    # The LLM read each kept post once, with its author, and who reposted it.
    (request,) = llm.requests
    lines = request.post_lines()
    assert sorted(line["id"] for line in lines) == sorted(post_ids)
    authors = {line["id"]: line["author"] for line in lines}
    assert authors == {original: "@bob", alice_own: "@alice", carol_own: "@carol"}
    assert next(line for line in lines if line["id"] == original)["reposted_by"] == ["@alice"]
    assert "3 X accounts (@alice, @bob, @carol)" in request.system and "### " in request.system
    job_row = await session.get(Job, job.id, populate_existing=True)
    assert job_row is not None and job_row.last_post_id == reply  # the cursor passes filtered posts too


async def test_the_offline_summary_groups_by_theme_and_notes_reposts(
    db: Database, session: AsyncSession, settings: Settings, fake_x: tuple[FakeX, str], x_source: XSource
) -> None:
    fake, _ = fake_x
    alice, bob = fake.add_user("alice"), fake.add_user("bob")
    original = publish(bob, 50, "New GPU chips ship next week")
    publish(alice, 40, "RT @bob: New GPU chips ship next week", retweeted=original)
    publish(alice, 30, "Lunch was great")
    job = await _job(session, ["alice", "bob"])

    execution = await _run_now(db, session, job, x_source, settings, None)

    summary = (await session.scalars(select(Summary).where(Summary.execution_id == execution.id))).one()
    content = summary.content
    assert content.startswith("## Briefing: 2 new posts from 2 accounts, on chips")
    assert content.index("### chips") < content.index("### Other posts") < content.index("Lunch")
    assert "**@bob**: New GPU chips ship next week" in content and "reposted by @alice" in content
    assert content.count("New GPU chips") == 1


async def test_one_account_suspended_completes_with_a_warning_naming_it(
    db: Database, session: AsyncSession, settings: Settings, fake_x: tuple[FakeX, str], x_source: XSource
) -> None:
    fake, _ = fake_x
    alice, bob = fake.add_user("alice"), fake.add_user("bob")
    fake.add_user("carol", suspended=True)
    kept = [publish(alice, 30, "chips news"), publish(bob, 20, "more chips news")]
    job = await _job(session, ["alice", "bob", "carol"])

    execution = await _run_now(db, session, job, x_source, settings, None)

    assert execution.status == ExecutionStatus.COMPLETED.value
    assert execution.warnings == ["@carol was skipped: it is suspended."]
    carol = next(row for row in execution.accounts or [] if row["username"] == "carol")
    assert carol["posts_fetched"] == 0 and "suspended" in carol["error"]
    # The execution API says the same.
    view = await executions_service.get_for_owner(session, owner_id=job.user_id, execution_id=execution.id)
    read = ExecutionRead.of(view).model_dump()
    assert read["warnings"] == ["@carol was skipped: it is suspended."] and read["posts_summarized"] == 2
    assert [(a["username"], a["posts_kept"]) for a in read["accounts"]] == [
        ("alice", 1),
        ("bob", 1),
        ("carol", 0),
    ]
    summary = (await session.scalars(select(Summary).where(Summary.execution_id == execution.id))).one()
    assert sorted(summary.raw_data["post_ids"]) == sorted(kept)


async def test_every_account_failing_fails_the_run(
    db: Database, session: AsyncSession, settings: Settings, fake_x: tuple[FakeX, str], x_source: XSource
) -> None:
    fake, _ = fake_x
    fake.add_user("carol", suspended=True)
    job = await _job(session, ["ghost", "carol"])

    execution = await _run_now(db, session, job, x_source, settings, None)

    assert execution.status == ExecutionStatus.FAILED.value
    assert execution.error_kind == "source_not_found"  # the first account's error


async def test_briefings_and_a_single_job_read_each_new_post_from_the_upstream_once(
    db: Database, session: AsyncSession, settings: Settings, fake_x: tuple[FakeX, str], x_source: XSource
) -> None:
    fake, _ = fake_x
    users = {name: fake.add_user(name) for name in ("alice", "bob", "carol")}
    posts = [publish(users[name], minutes, f"{name} on chips") for name in users for minutes in (30, 20, 10)]
    await _job(session, ["alice", "bob", "carol"])
    await _job(session, ["bob", "alice"])
    await _job(session, ["alice"])

    dispatched = (await dispatcher.tick(db, now=NOW)).dispatched
    assert len(dispatched) == 3
    await asyncio.gather(*(_run(db, execution_id, x_source, settings) for execution_id in dispatched))

    runs = list(await session.scalars(select(JobExecution).where(JobExecution.id.in_(dispatched))))
    assert [run.status for run in runs] == [ExecutionStatus.COMPLETED.value] * 3
    assert sorted(run.tweets_fetched for run in runs) == [3, 6, 9]
    assert fake.posts_served == len(posts)  # each post crossed the wire once
    for name, user in users.items():
        assert fake.count(f"/2/users/{user.id}/tweets") == 1, name
        assert fake.count(f"/2/users/by/username/{name}") == 1, name


async def test_an_account_failing_three_runs_in_a_row_is_reported_once(
    db: Database, session: AsyncSession, settings: Settings, fake_x: tuple[FakeX, str], x_source: XSource
) -> None:
    fake, _ = fake_x
    fake.add_user("alice")
    fake.add_user("carol", suspended=True)
    job = await _job(session, ["alice", "carol"])
    hooks = RecordingHooks()
    for _ in range(4):
        execution = await executions_service.run_now(
            session, owner_id=job.user_id, job_id=job.id, now=NOW, executor=None
        )
        await session.commit()
        await _run(db, execution.id, x_source, settings, hooks=hooks)
    told = [list(run.failing_accounts) for run in hooks.completed]
    assert told == [[], [], ["@carol was skipped: it is suspended."], []]


def test_the_owner_is_told_once_after_three_failing_runs_of_the_same_account() -> None:
    accounts = ["alice", "Carol"]
    state, told = failure_streaks(None, usernames=accounts, failed=["Carol"])
    assert told == [] and state == {"carol": {"streak": 1, "notified": False}}
    state, told = failure_streaks(state, usernames=accounts, failed=["Carol"])
    assert told == []
    state, told = failure_streaks(state, usernames=accounts, failed=["Carol"])
    assert told == ["Carol"]
    state, told = failure_streaks(state, usernames=accounts, failed=["Carol"])
    assert told == [] and state["carol"] == {"streak": 4, "notified": True}
    state, told = failure_streaks(state, usernames=accounts, failed=[])  # it works again
    assert state == {} and told == []


async def test_the_dispatcher_runs_a_daily_job_at_its_local_time_and_interval_jobs_as_before(
    db: Database, session: AsyncSession
) -> None:
    monday = datetime(2027, 3, 8, 12, 0, tzinfo=UTC)  # 07:00 in New York (EST)
    owner = await make_user(session)
    daily = await jobs_service.create(
        session,
        owner=owner,
        data=JobCreate.model_validate(
            {"accounts": ["alice", "bob"], "daily_at": "08:00", "days": MWF, "timezone": "America/New_York"}
        ),
        max_jobs=100,
        now=monday,
    )
    interval = await jobs_service.create(
        session, owner=owner, data=JobCreate(x_username="carol", frequency=60), max_jobs=100, now=monday
    )
    filtered = await jobs_service.create(
        session,
        owner=owner,
        data=JobCreate.model_validate({"accounts": ["dan", "erin"], "filters": {"exclude_replies": True}}),
        max_jobs=100,
        now=monday,
    )
    await session.commit()
    assert daily.next_run_at == datetime(2027, 3, 8, 13, 0, tzinfo=UTC)

    first = (await dispatcher.tick(db, now=monday)).dispatched
    assert len(first) == 2  # only the interval jobs are due at once
    # The snapshot a queued run shows is the one its claim will take (SQL on PostgreSQL).
    queued = {run.job_id: run.params for run in await session.scalars(select(JobExecution))}
    assert queued[interval.id] == {"x_username": "carol", "topics": [], "language": "en", "hours_back": 24}
    assert queued[filtered.id]["accounts"] == ["dan", "erin"]
    assert queued[filtered.id]["filters"]["exclude_replies"] is True
    at_eight = (await dispatcher.tick(db, now=datetime(2027, 3, 8, 13, 0, 30, tzinfo=UTC))).dispatched
    assert len(at_eight) == 1  # the interval job still has its first run active
    run = await session.get(JobExecution, at_eight[0])
    assert run is not None and run.job_id == daily.id
    assert run.scheduled_for == datetime(2027, 3, 8, 13, 0, tzinfo=UTC)
    assert run.params["accounts"] == ["alice", "bob"]
    refreshed = await session.get(Job, daily.id, populate_existing=True)
    assert refreshed is not None and refreshed.next_run_at == datetime(2027, 3, 10, 13, 0, tzinfo=UTC)
    other = await session.get(Job, interval.id, populate_existing=True)
    assert other is not None and other.next_run_at == monday + timedelta(hours=2)  # on its grid


MWF = ["mon", "wed", "fri"]
