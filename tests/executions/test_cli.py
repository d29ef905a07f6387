from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import select

from tests.conftest import fresh_database_url
from xtrack import migrate
from xtrack.config import get_settings
from xtrack.db import Database, create_engine, utcnow
from xtrack.executions.models import ExecutionStatus, JobExecution
from xtrack.jobs import service as jobs_service
from xtrack.jobs.schemas import JobCreate
from xtrack.users import service as users_service
from xtrack.users.models import UserStatus


async def _seed(url: str) -> None:
    database = Database(create_engine(url))
    try:
        async with database.session() as session:
            owner = await users_service.create(
                session,
                email="cli@example.com",
                password="correct horse battery",
                status=UserStatus.ACTIVE,
                settings=get_settings(),
            )
            await jobs_service.create(
                session, owner=owner, data=JobCreate(x_username="demo"), max_jobs=50, now=utcnow()
            )
    finally:
        await database.dispose()


async def _statuses(url: str) -> list[str]:
    database = Database(create_engine(url))
    try:
        async with database.session() as session:
            return list(await session.scalars(select(JobExecution.status)))
    finally:
        await database.dispose()


@pytest.mark.process
def test_xtrack_scheduler_runs_due_jobs_and_stops_cleanly_on_sigterm() -> None:
    url = fresh_database_url("sqlite", "cli_scheduler")
    migrate.upgrade(url)
    asyncio.run(_seed(url))
    env = {
        **os.environ,
        "XTRACK_DATABASE_URL": url,
        "XTRACK_SCHEDULER_TICK_SECONDS": "0.1",
        "XTRACK_LOG_FORMAT": "json",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "xtrack", "scheduler"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if asyncio.run(_statuses(url)) == [ExecutionStatus.COMPLETED.value]:
                break
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert asyncio.run(_statuses(url)) == [ExecutionStatus.COMPLETED.value], err
    assert process.returncode == 0, err
    assert "scheduler running" in err and "stopping" in err and "Traceback" not in err
