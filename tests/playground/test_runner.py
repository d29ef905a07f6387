"""Playground runs through the real runner: the demo source, and the X client against a fake X over
real HTTP (the shared posts store: nothing stored is fetched again; older windows backfill)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import auth_headers, make_user
from tests.fakes.server import serve_app
from tests.playground.conftest import ClientFactory
from tests.sources.fakes import FakeX
from xtrack.config import Settings
from xtrack.db import Database, utcnow
from xtrack.executions.heartbeat import Heartbeats
from xtrack.executions.runner import run_execution
from xtrack.playground import history as playground_history
from xtrack.playground import service as playground_service
from xtrack.playground.schemas import PlaygroundRunCreate
from xtrack.sources.base import Source
from xtrack.sources.registry import build_source
from xtrack.summaries.models import Summary
from xtrack.users.models import User


@pytest.fixture
def fake_x() -> Iterator[tuple[FakeX, str]]:
    fake = FakeX()
    with serve_app(fake.app) as base_url:
        yield fake, base_url


@pytest.fixture
async def x_settings(fake_x: tuple[FakeX, str], settings: Settings) -> Settings:
    """XTRACK_SOURCE=x against the fake; one attempt per run, no client-side retries."""
    _, base_url = fake_x
    return settings.model_copy(
        update={
            "source": "x",
            "x_api_url": base_url,
            "x_bearer_token": SecretStr(FakeX().token),
            "max_attempts": 1,
            "source_max_retries": 0,
        }
    )


@pytest.fixture
async def x_source(x_settings: Settings) -> AsyncIterator[Source]:
    source = build_source(x_settings)
    yield source
    await source.aclose()


async def _run(
    db: Database,
    session: AsyncSession,
    settings: Settings,
    user: User | None,
    source: Source | None = None,
    **inputs: object,
) -> playground_history.PlaygroundRun:
    # Confirmed up front: these runs are about the pipeline, not the cost estimate
    # (tests/playground/test_cost_confirmation.py).
    data = PlaygroundRunCreate.model_validate(
        {"x_username": "alice", "topics": ["ai"], "confirm_cost": True, **inputs}
    )
    execution = await playground_service.create_run(
        session, user=user, data=data, now=utcnow(), settings=settings
    )
    await session.commit()
    assert execution.status == "QUEUED"
    await run_execution(
        execution.id,
        database=db,
        settings=settings,
        source=source or build_source(settings),  # the configured (demo) source unless given
        heartbeats=Heartbeats(auto_start=False),
    )
    return await playground_history.get_run(session, user=user, run_id=execution.id)


async def test_a_run_completes_with_a_summary_on_the_demo_source(
    db: Database, session: AsyncSession, settings: Settings
) -> None:
    user = await make_user(session)
    run = await _run(db, session, settings, user, x_username="demo_alice", hours_back=6, language="en")
    assert run.status == "COMPLETED", run.error_message
    assert run.summary is not None and run.tweets_fetched == run.summary.tweets_count > 0
    assert run.started_at is not None and run.completed_at is not None and run.duration_ms is not None
    assert run.covered_from is not None and run.covered_to is not None
    assert run.covered_from == run.started_at - timedelta(hours=6) and run.covered_to >= run.started_at
    stored = await session.scalar(select(Summary).where(Summary.execution_id == run.id))
    assert stored is not None and stored.is_playground and stored.job_id is None
    assert (stored.user_id, stored.x_username, stored.topics, stored.hours_back) == (
        user.id,
        "demo_alice",
        ["ai"],
        6,
    )
    assert stored.raw_data is not None and len(stored.raw_data["post_ids"]) == stored.tweets_count
    assert run.summary.post_ids == stored.raw_data["post_ids"] and run.summary.model == "extractive"
    assert [item.id for item in (await playground_history.history(session, user=user)).items] == [run.id]


async def test_stored_posts_are_not_fetched_again_and_older_windows_backfill(
    db: Database,
    session: AsyncSession,
    x_settings: Settings,
    x_source: Source,
    fake_x: tuple[FakeX, str],
) -> None:
    fake, _ = fake_x
    account = fake.add_user("alice")
    now = utcnow()
    older = fake.add_posts(account, 4, start=now - timedelta(hours=40), step=timedelta(hours=2))
    recent = fake.add_posts(account, 5, start=now - timedelta(hours=5), step=timedelta(minutes=50))
    first_user, second_user = await make_user(session), await make_user(session)

    first = await _run(db, session, x_settings, first_user, x_source, hours_back=6)
    assert first.status == "COMPLETED", first.error_message
    assert first.summary is not None and sorted(first.summary.post_ids) == sorted(recent)
    assert fake.count("/users/by/username/") == 1 and fake.count("/tweets") == 1
    served = fake.posts_served

    # Another user's run of the same account: no lookup, one since_id call that finds nothing new.
    second = await _run(db, session, x_settings, second_user, x_source, hours_back=6)
    assert second.status == "COMPLETED" and second.summary is not None
    assert sorted(second.summary.post_ids) == sorted(recent)
    assert fake.count("/users/by/username/") == 1 and fake.count("/tweets") == 2
    _path, params, _headers = fake.requests[-1]
    assert params["since_id"] == max(recent, key=int)
    assert fake.posts_served == served  # nothing was paid for twice

    # A window further back than the stored posts: a since_id call for anything new, then one
    # backfill call from the window's start that stops where the stored posts begin.
    third = await _run(db, session, x_settings, second_user, x_source, hours_back=48)
    assert third.status == "COMPLETED" and third.summary is not None
    assert sorted(third.summary.post_ids) == sorted(older + recent)
    _path, params, _headers = fake.requests[-1]
    assert "since_id" not in params
    start_time = datetime.fromisoformat(params["start_time"].replace("Z", "+00:00"))
    end_time = datetime.fromisoformat(params["end_time"].replace("Z", "+00:00"))
    assert abs(start_time - (now - timedelta(hours=48))) < timedelta(minutes=1)
    assert end_time <= now - timedelta(hours=5)  # the stored part of the window is not read again
    assert fake.count("/tweets") == 4
    assert fake.posts_served == served + len(older)  # only the older posts were paid for


async def test_a_failing_source_shows_as_a_failed_run_with_its_reason_in_history(
    db: Database,
    session: AsyncSession,
    x_settings: Settings,
    x_source: Source,
    fake_x: tuple[FakeX, str],
    api: ClientFactory,
) -> None:
    fake, _ = fake_x
    fake.add_user("alice")
    user = await make_user(session)
    unknown = await _run(db, session, x_settings, user, x_source, x_username="nosuchuser")
    fake.fail_next(503, times=5)
    unavailable = await _run(db, session, x_settings, user, x_source, x_username="alice")
    assert (unknown.status, unknown.error_kind) == ("FAILED", "source_not_found")
    assert (unavailable.status, unavailable.error_kind) == ("FAILED", "upstream")
    assert unavailable.attempt == 1 and unavailable.summary is None

    headers = await auth_headers(session, user)
    async with api() as (client, _):
        response = await client.get("/api/v1/playground/history", headers=headers)
    assert response.status_code == 200
    items = response.json()["items"]
    assert [(i["id"], i["status"], i["error_kind"]) for i in items] == [
        (unavailable.id, "FAILED", "upstream"),
        (unknown.id, "FAILED", "source_not_found"),
    ]
    assert items[1]["error_message"] == "@nosuchuser does not exist on X"
    assert "503" in items[0]["error_message"] or "unavailable" in items[0]["error_message"].lower()
    assert all(item["summary"] is None for item in items)


async def test_the_local_operators_runs_have_no_quota_and_no_owner(
    db: Database, session: AsyncSession, settings: Settings
) -> None:
    strict = settings.model_copy(update={"playground_daily_quota": 0})
    run = await _run(db, session, strict, None, x_username="demo_bob", hours_back=2)
    assert run.status == "COMPLETED" and run.user_id is None
    stranger = await make_user(session)
    assert (await playground_history.history(session, user=stranger)).items == []


async def test_history_is_one_query(db: Database, session: AsyncSession, settings: Settings) -> None:
    """The history reads runs and summaries in one statement (no query per run)."""
    from sqlalchemy import event

    user = await make_user(session)
    for name in ("demo_a", "demo_b", "demo_c"):
        await _run(db, session, settings, user, x_username=name, hours_back=3)
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    connection = await session.connection()
    event.listen(connection.sync_connection, "before_cursor_execute", record)
    try:
        page = await playground_history.history(session, user=user)
    finally:
        event.remove(connection.sync_connection, "before_cursor_execute", record)
    assert len(page.items) == 3 and all(item.summary is not None for item in page.items)
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1
