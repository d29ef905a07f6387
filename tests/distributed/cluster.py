"""Real XTrack processes for the distributed tests: ``xtrack web``, ``xtrack scheduler`` and
``xtrack worker`` against a fresh PostgreSQL database, a broker queue of their own and a fake X.

Each process logs to a file (a pipe nobody reads would fill up and block it); every wait is bounded;
``close()`` kills whatever is still running."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from kombu import Connection
from sqlalchemy import func, select

from tests.conftest import wait_until
from tests.fakes.server import free_port
from tests.sources.fakes import FakeUser, FakeX
from xtrack.db import Database
from xtrack.executions.models import JobExecution
from xtrack.sources.ids import snowflake
from xtrack.summaries.models import Summary

BROKERS = {
    # A database number of their own: nothing else on this machine uses it.
    "redis": "redis://127.0.0.1:6379/13",
    "rabbitmq": "amqp://guest:guest@127.0.0.1:5672//",
}


def unique_queue() -> str:
    """A queue no other run (or leftover message) shares."""
    return f"xtrack-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def delete_queue(broker_url: str, queue: str) -> None:
    """Drop the test's queue and, on Redis, the unacknowledged copies a killed worker left behind."""
    with Connection(broker_url, connect_timeout=5) as connection:
        channel = connection.default_channel
        with contextlib.suppress(Exception):
            channel.queue_purge(queue)
        with contextlib.suppress(Exception):
            channel.queue_delete(queue)
        if broker_url.startswith("redis"):
            client = channel.client
            for tag, payload in client.hgetall("unacked").items():
                with contextlib.suppress(ValueError, IndexError, TypeError):
                    if json.loads(payload)[2] == queue:
                        client.hdel("unacked", tag)
                        client.zrem("unacked_index", tag)
            for key in client.keys(f"*{queue}*"):
                client.delete(key)


def queue_length(broker_url: str, queue: str) -> int:
    with Connection(broker_url, connect_timeout=5) as connection:
        _name, messages, _consumers = connection.default_channel.queue_declare(queue, passive=True)
        return int(messages)


def publish(fake: FakeX, user: FakeUser, count: int, *, start: datetime, step: timedelta) -> list[str]:
    """Add ``count`` posts to ``user``; the list is swapped in whole, so the fake's server thread
    never sees it half-sorted."""
    posts = []
    for i in range(count):
        created = start + step * i
        created = created.replace(microsecond=created.microsecond // 1000 * 1000)
        seq = len(user.posts) + i
        post_id = str(snowflake(created, seq))
        text = f"post {seq} of {user.username} about #AI"
        posts.append({"id": post_id, "text": text, "created_at": created})
    user.posts = sorted([*user.posts, *posts], key=lambda p: int(p["id"]))
    return [p["id"] for p in posts]


@dataclass
class Cluster:
    """Processes sharing one environment (database, broker queue, fake X, short tick and lease)."""

    logs: Path
    env: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    web_url: str | None = None

    @classmethod
    def create(
        cls, logs: Path, *, database_url: str, broker_url: str, queue: str, x_api_url: str, **extra: str
    ) -> Cluster:
        logs.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "XTRACK_DATABASE_URL": database_url,
            "XTRACK_EXECUTOR": "celery",
            "XTRACK_BROKER_URL": broker_url,
            "XTRACK_CELERY_QUEUE": queue,
            "XTRACK_SOURCE": "x",
            "XTRACK_X_API_URL": x_api_url,
            "XTRACK_X_BEARER_TOKEN": "good-token",
            "XTRACK_SOURCE_TIMEOUT_SECONDS": "10",
            "XTRACK_SCHEDULER_TICK_SECONDS": "0.5",
            "XTRACK_LEASE_SECONDS": "3",
            "XTRACK_EXECUTOR_CONCURRENCY": "40",
            "XTRACK_LOG_FORMAT": "json",
            "XTRACK_LOG_LEVEL": "INFO",
            **extra,
        }
        return cls(logs=logs, env=env)

    def start(self, name: str, *argv: str) -> subprocess.Popen[bytes]:
        with open(self.logs / f"{name}.log", "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "xtrack", *argv],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C of pytest does not reach them; close() does
            )
        self.processes[name] = process
        return process

    def start_web(self, name: str = "web") -> str:
        port = free_port()
        self.start(name, "web", "--host", "127.0.0.1", "--port", str(port))
        self.web_url = f"http://127.0.0.1:{port}"
        return self.web_url

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def events(self, name: str) -> list[dict[str, Any]]:
        """The structured (JSON) log lines of a process."""
        found = []
        for line in self.log(name).splitlines():
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    found.append(json.loads(line))
        return found

    async def wait_ready(self, timeout: float = 30.0) -> None:
        """Until every process says it is up (web answers /healthz, schedulers and workers log it)."""

        async def ready() -> bool:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    log = self.log(name)[-3000:]
                    raise AssertionError(f"{name} exited with {process.returncode}:\n{log}")
            for name in self.processes:
                text = self.log(name)
                if name.startswith("scheduler") and "scheduler.started" not in text:
                    return False
                if name.startswith("worker") and " ready." not in text:
                    return False
            if self.web_url is not None:
                try:
                    async with httpx.AsyncClient(timeout=1) as client:
                        return (await client.get(f"{self.web_url}/healthz")).status_code == 200
                except httpx.HTTPError:
                    return False
            return True

        await wait_until(ready, timeout=timeout, what="the processes to start", interval=0.1)

    def kill(self, name: str) -> None:
        """SIGKILL: no shutdown code runs."""
        process = self.processes[name]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def terminate(self, *names: str, timeout: float = 30.0) -> dict[str, int]:
        """SIGTERM, then wait for a clean exit; returns the exit codes."""
        chosen = names or tuple(name for name, p in self.processes.items() if p.poll() is None)
        for name in chosen:
            self.processes[name].send_signal(signal.SIGTERM)
        codes = {}
        for name in chosen:
            try:
                codes[name] = self.processes[name].wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.processes[name].kill()
                codes[name] = -999
        return codes

    def close(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=10)


async def execution_counts(database: Database) -> dict[str, int]:
    async with database.session() as session:
        rows = await session.execute(select(JobExecution.status, func.count()).group_by(JobExecution.status))
        return {status: int(count) for status, count in rows.all()}


async def summaries_by_job(database: Database) -> dict[int, list[list[str]]]:
    """Each job's summaries as lists of the post ids they cover."""
    async with database.session() as session:
        rows = (await session.execute(select(Summary.job_id, Summary.raw_data))).all()
    found: dict[int, list[list[str]]] = {}
    for job_id, raw in rows:
        assert job_id is not None
        found.setdefault(job_id, []).append([str(i) for i in raw["post_ids"]])
    return found
