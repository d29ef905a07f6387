"""XTrack as separate processes: ``xtrack web`` + two ``xtrack scheduler`` + ``xtrack worker``
(Celery) against a fresh PostgreSQL database, with the Redis broker and with RabbitMQ, reading a
fake X over real HTTP."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import fresh_database_url, wait_until
from tests.distributed.cluster import (
    BROKERS,
    Cluster,
    delete_queue,
    execution_counts,
    publish,
    summaries_by_job,
    unique_queue,
)
from tests.fakes.server import serve_app
from tests.sources.fakes import FakeUser, FakeX
from xtrack import migrate
from xtrack.config import get_settings
from xtrack.db import Database, create_engine, utcnow
from xtrack.executions.models import ExecutionStatus, JobExecution
from xtrack.jobs.models import Job
from xtrack.users import service as users_service
from xtrack.users.auth import create_api_token
from xtrack.users.models import UserStatus

pytestmark = [pytest.mark.process, pytest.mark.xdist_group("processes")]

COMPLETED = ExecutionStatus.COMPLETED.value


@pytest.fixture
def fake_x() -> Iterator[tuple[FakeX, str]]:
    fake = FakeX()
    with serve_app(fake.app) as base_url:
        yield fake, base_url


@pytest.fixture
async def database(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, Database]]:
    url = fresh_database_url("postgresql", f"dist_{request.node.name[:20]}")
    await asyncio.to_thread(migrate.upgrade, url)
    database = Database(create_engine(url, pool_size=2))
    try:
        yield url, database
    finally:
        await database.dispose()


async def api_token(database: Database) -> dict[str, str]:
    """An ACTIVE user's API token: jobs are created and run through ``xtrack web``."""
    async with database.session() as session:
        owner = await users_service.create(
            session,
            email="owner@example.com",
            password="correct horse battery",
            status=UserStatus.ACTIVE,
            settings=get_settings(),
        )
        _token, plain = await create_api_token(session, user=owner, name="tests", now=utcnow())
    return {"Authorization": f"Bearer {plain}"}


def accounts(fake: FakeX, count: int, *, posts: int) -> list[FakeUser]:
    now = utcnow()
    users = []
    for i in range(count):
        user = fake.add_user(f"acct{i}")
        publish(fake, user, posts, start=now - timedelta(hours=3), step=timedelta(minutes=20))
        users.append(user)
    return users


async def create_jobs(web_url: str, token: dict[str, str], usernames: list[str]) -> dict[int, str]:
    """POST /api/v1/jobs for each username; returns job id -> username."""
    jobs = {}
    async with httpx.AsyncClient(base_url=web_url, headers=token, timeout=10) as client:
        for username in usernames:
            response = await client.post("/api/v1/jobs", json={"x_username": username, "topics": ["AI"]})
            assert response.status_code == 201, response.text
            jobs[response.json()["id"]] = username
    return jobs


def assert_clean_logs(cluster: Cluster) -> None:
    for name in cluster.processes:
        text = cluster.log(name)
        assert "Traceback" not in text, f"{name}:\n{text[-4000:]}"


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
async def test_web_two_schedulers_and_a_worker_run_40_first_executions_exactly_once(
    broker: str, database: tuple[str, Database], fake_x: tuple[FakeX, str], tmp_path: Path
) -> None:
    url, db = database
    fake, x_url = fake_x
    users = accounts(fake, 20, posts=3)
    queue = unique_queue()
    cluster = Cluster.create(
        tmp_path / "logs",
        database_url=url,
        broker_url=BROKERS[broker],
        queue=queue,
        x_api_url=x_url,
        # No run is lost here: a lease no busy machine can overrun, so every run is attempt 1.
        XTRACK_LEASE_SECONDS="30",
    )
    try:
        token = await api_token(db)
        cluster.start_web()
        cluster.start("scheduler-1", "scheduler")
        cluster.start("scheduler-2", "scheduler")
        cluster.start("worker", "worker")
        await cluster.wait_ready()
        # Two jobs per account, created through the web process while both schedulers tick.
        jobs = await create_jobs(cluster.web_url or "", token, [f"acct{i % 20}" for i in range(40)])

        async def all_completed() -> bool:
            return await execution_counts(db) == {COMPLETED: 40}

        await wait_until(all_completed, timeout=30, what="40 COMPLETED executions")
        await asyncio.sleep(1.5)  # three more ticks of each scheduler: nothing else may appear
        codes = cluster.terminate()
    finally:
        cluster.close()
        delete_queue(BROKERS[broker], queue)

    assert codes == {"web": 0, "scheduler-1": 0, "scheduler-2": 0, "worker": 0}, codes
    assert_clean_logs(cluster)
    async with db.session() as session:
        executions = list(await session.scalars(select(JobExecution)))
        rows = await session.execute(select(Job.id, Job.last_post_id))
        cursors = {job_id: cursor for job_id, cursor in rows}
    assert len(executions) == 40
    assert Counter(e.job_id for e in executions) == Counter(dict.fromkeys(jobs, 1))
    assert all(e.status == COMPLETED and e.attempt == 1 and e.tweets_fetched == 3 for e in executions)
    summaries = await summaries_by_job(db)
    posts = {user.username: sorted(p["id"] for p in user.posts) for user in users}
    assert sum(len(found) for found in summaries.values()) == 40
    assert {job_id: [sorted(ids) for ids in found] for job_id, found in summaries.items()} == {
        job_id: [posts[username]] for job_id, username in jobs.items()
    }
    assert all(cursors[job_id] == posts[username][-1] for job_id, username in jobs.items())
    # Each account is looked up once and its timeline read at most once per run.
    assert fake.count("/2/users/by/username/") == 20
    assert fake.count("/tweets") <= 40
    # Between them the schedulers created each execution once; the worker ran each once.
    dispatched = [
        event.get("dispatched", 0)
        for name in ("scheduler-1", "scheduler-2")
        for event in cluster.events(name)
        if event.get("event") == "dispatcher.tick"
    ]
    assert sum(dispatched) == 40
    completed = [e for e in cluster.events("worker") if e.get("event") == "execution.completed"]
    assert sorted(e["execution_id"] for e in completed) == sorted(e.id for e in executions)
    assert "worker.loop_closed" in cluster.log("worker")


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
async def test_a_worker_killed_mid_run_is_replaced_and_every_post_is_summarized_once(
    broker: str, database: tuple[str, Database], fake_x: tuple[FakeX, str], tmp_path: Path
) -> None:
    url, db = database
    fake, x_url = fake_x
    users = accounts(fake, 6, posts=2)
    fake.delay = 2.0  # timelines answer slowly: the runs are in flight when the worker dies
    queue = unique_queue()
    cluster = Cluster.create(
        tmp_path / "logs", database_url=url, broker_url=BROKERS[broker], queue=queue, x_api_url=x_url
    )
    try:
        token = await api_token(db)
        cluster.start_web()
        cluster.start("scheduler-1", "scheduler")
        cluster.start("scheduler-2", "scheduler")
        cluster.start("worker-1", "worker")
        await cluster.wait_ready()
        jobs = await create_jobs(cluster.web_url or "", token, [f"acct{i % 6}" for i in range(12)])

        async def all_running() -> bool:
            return await execution_counts(db) == {ExecutionStatus.RUNNING.value: 12}

        await wait_until(all_running, timeout=15, what="12 RUNNING executions")

        async def fetching() -> bool:
            return fake.count("/tweets") >= 6  # one timeline read per account, answered in 2 s

        await wait_until(fetching, timeout=10, what="the timeline requests")
        cluster.kill("worker-1")
        killed_at = time.monotonic()
        # Posts published after the crash: the replacement run must include them too.
        now = utcnow()
        for user in users:
            publish(fake, user, 1, start=now - timedelta(seconds=5), step=timedelta(seconds=1))
        cluster.start("worker-2", "worker")

        async def all_completed(count: int) -> bool:
            return await execution_counts(db) == {COMPLETED: count}

        await wait_until(lambda: all_completed(12), timeout=30, what="the lost runs to complete")
        recovered_after = time.monotonic() - killed_at
        async with db.session() as session:
            first = list(await session.scalars(select(JobExecution).order_by(JobExecution.id)))

        # Then a manual run of every job through the web process, with new posts to pick up, and
        # SIGTERM to the worker while they are in flight: its warm shutdown lets them finish.
        fake.delay = 1.0
        now = utcnow()
        for user in users:
            publish(fake, user, 2, start=now - timedelta(seconds=10), step=timedelta(seconds=1))
        async with httpx.AsyncClient(base_url=cluster.web_url or "", headers=token, timeout=10) as client:
            for job_id in jobs:
                response = await client.post(f"/api/v1/jobs/{job_id}/run")
                assert response.status_code == 202, response.text

        async def manual_runs_in_flight() -> bool:
            counts = await execution_counts(db)
            return counts.get(ExecutionStatus.RUNNING.value, 0) == 12 or counts.get(COMPLETED) == 24

        await wait_until(manual_runs_in_flight, timeout=15, what="the manual runs to start")
        worker_code = cluster.terminate("worker-2")
        assert await execution_counts(db) == {COMPLETED: 24}
        codes = {**worker_code, **cluster.terminate()}
    finally:
        cluster.close()
        delete_queue(BROKERS[broker], queue)

    assert codes == {"web": 0, "scheduler-1": 0, "scheduler-2": 0, "worker-2": 0}, codes
    assert cluster.processes["worker-1"].returncode == -9
    for name in ("web", "scheduler-1", "scheduler-2", "worker-2"):
        assert "Traceback" not in cluster.log(name), cluster.log(name)[-4000:]
    # Every run was in flight on the killed worker: reaped after the lease, run again by the new one.
    assert recovered_after >= 3.0
    assert [(e.status, e.tweets_fetched) for e in first] == [(COMPLETED, 3)] * 12
    assert all(e.attempt >= 2 for e in first)
    reaped = {
        event["execution_id"]
        for name in ("scheduler-1", "scheduler-2")
        for event in cluster.events(name)
        if event.get("event") == "execution.worker_lost"
    }
    assert reaped >= {e.id for e in first}
    # Nothing stays RUNNING or QUEUED, and every post is summarized exactly once per job.
    assert await execution_counts(db) == {COMPLETED: 24}
    summaries = await summaries_by_job(db)
    posts = {user.username: sorted(p["id"] for p in user.posts) for user in users}
    for job_id, username in jobs.items():
        covered = [post_id for found in summaries[job_id] for post_id in found]
        assert len(summaries[job_id]) == 2
        assert sorted(covered) == posts[username], (job_id, username)


async def test_the_celery_cli_reaches_a_running_worker_through_the_documented_app_path(
    database: tuple[str, Database], tmp_path: Path
) -> None:
    url, _db = database
    queue = unique_queue()
    cluster = Cluster.create(
        tmp_path / "logs",
        database_url=url,
        broker_url=BROKERS["redis"],
        queue=queue,
        x_api_url="http://unused",
    )
    try:
        worker_process = cluster.start("worker", "worker")
        await cluster.wait_ready()

        # As an operator would type them (README, "Production layout"), with the worker's environment.
        def celery(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
            command = [str(Path(sys.executable).parent / "celery"), "-A", "xtrack.worker", *args]
            env = {**cluster.env, "PYTHONUNBUFFERED": "1"}
            return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)

        node = f"xtrack-{worker_process.pid}@"
        ping = await asyncio.to_thread(celery, "inspect", "ping", "--timeout", "10")
        assert ping.returncode == 0, ping.stdout + ping.stderr
        assert node in ping.stdout and "pong" in ping.stdout
        active = await asyncio.to_thread(celery, "inspect", "active", "--timeout", "10")
        assert active.returncode == 0 and node in active.stdout, active.stdout + active.stderr
        # What `celery events` and flower need from the workers: task events, switched on remotely.
        enabled = await asyncio.to_thread(celery, "control", "enable_events", "--timeout", "10")
        assert enabled.returncode == 0 and node in enabled.stdout, enabled.stdout + enabled.stderr
        assert "task events enabled" in enabled.stdout
        try:  # `events` runs until stopped: a few seconds connected to the broker without an error
            dumped = await asyncio.to_thread(celery, "events", "--dump", timeout=8)
            raise AssertionError(f"celery events stopped by itself: {dumped.stdout}{dumped.stderr}")
        except subprocess.TimeoutExpired as running:
            output = "".join(
                part.decode() if isinstance(part, bytes) else part or ""
                for part in (running.stdout, running.stderr)
            )
            assert (
                "starting capture" in output and "Traceback" not in output and "Cannot connect" not in output
            )
            assert node in output  # the worker's events (its heartbeats) reach the dump
        assert cluster.terminate() == {"worker": 0}
        assert "Context impl" not in cluster.log("worker")  # no Alembic INFO lines at start
    finally:
        cluster.close()
        delete_queue(BROKERS["redis"], queue)
