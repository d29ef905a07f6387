"""`xtrack maintenance prune` and `xtrack export` against a real database, as an operator runs them."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import fresh_database_url
from xtrack import migrate
from xtrack.config import get_settings
from xtrack.db import Database, create_engine, utcnow
from xtrack.executions.models import JobExecution
from xtrack.jobs.models import Job
from xtrack.summaries.models import Summary
from xtrack.users import service as users_service
from xtrack.users.models import UserStatus


async def _seed(url: str) -> None:
    database = Database(create_engine(url))
    now = utcnow()
    try:
        async with database.session() as session:
            owner = await users_service.create(
                session,
                email="ops-cli@example.com",
                password="correct horse battery",
                status=UserStatus.ACTIVE,
                settings=get_settings(),
            )
            job = Job(user_id=owner.id, x_username="alice", frequency=60, topics=["AI"], next_run_at=now)
            session.add(job)
            await session.flush()
            for days in (200, 150, 1):
                run = JobExecution(
                    job_id=job.id,
                    user_id=owner.id,
                    status="COMPLETED",
                    trigger="SCHEDULED",
                    params={},
                    created_at=now - timedelta(days=days),
                )
                session.add(run)
                await session.flush()
                session.add(
                    Summary(
                        job_id=job.id,
                        execution_id=run.id,
                        user_id=owner.id,
                        x_username="alice",
                        topics=["AI"],
                        content=f"## {days} days ago\n- news",
                        tweets_count=1,
                        created_at=now - timedelta(days=days),
                    )
                )
    finally:
        await database.dispose()


async def _count(url: str, model: type[JobExecution] | type[Summary]) -> int:
    database = Database(create_engine(url))
    try:
        async with database.session() as session:
            return int(await session.scalar(select(func.count()).select_from(model)) or 0)
    finally:
        await database.dispose()


def _xtrack(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xtrack", *args],
        env={**os.environ, "XTRACK_DATABASE_URL": url, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def seeded() -> str:
    url = fresh_database_url("sqlite", "ops_cli")
    migrate.upgrade(url)
    asyncio.run(_seed(url))
    return url


@pytest.mark.process
def test_export_markdown_and_json(seeded: str, tmp_path: Path) -> None:
    out = tmp_path / "summaries.md"
    result = _xtrack(
        seeded, "export", "--user", "OPS-CLI@example.com", "--format", "md", "--output", str(out)
    )
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert text.startswith("# XTrack summaries") and text.count("\n## @alice") == 3
    assert text.index("## 1 days ago") < text.index("## 200 days ago")  # newest first

    result = _xtrack(seeded, "export", "--user", "ops-cli@example.com", "--format", "json")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["count"] == 3 and body["user"]["email"] == "ops-cli@example.com"

    unknown = _xtrack(seeded, "export", "--user", "nobody@example.com")
    assert unknown.returncode == 1 and "error:" in unknown.stderr and "Traceback" not in unknown.stderr
    wrong = _xtrack(seeded, "export", "--user", "ops-cli@example.com", "--format", "pdf")
    assert wrong.returncode == 2 and "--format must be json or md" in wrong.stderr


@pytest.mark.process
def test_maintenance_prune_prints_counts_and_keeps_summaries(seeded: str) -> None:
    assert asyncio.run(_count(seeded, JobExecution)) == 3
    result = _xtrack(seeded, "maintenance", "prune")
    assert result.returncode == 0, result.stderr
    assert "pruned 2 executions (older than 90 days" in result.stdout and "0 posts" in result.stdout
    assert asyncio.run(_count(seeded, JobExecution)) == 1
    assert asyncio.run(_count(seeded, Summary)) == 3
    again = _xtrack(seeded, "maintenance", "prune")
    assert again.returncode == 0 and "pruned 0 executions" in again.stdout
