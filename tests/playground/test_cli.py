"""``xtrack playground`` as a user runs it: a subprocess against a fresh, migrated SQLite database."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tests.conftest import fresh_database_url
from tests.fakes.server import serve_app
from tests.sources.fakes import FakeX
from xtrack import migrate
from xtrack.cli import app as cli_app
from xtrack.config import get_settings
from xtrack.db import Database, create_engine
from xtrack.executions.models import JobExecution
from xtrack.summaries.models import Summary
from xtrack.users import service as users_service
from xtrack.users.models import UserStatus

pytestmark = pytest.mark.process


@pytest.fixture(scope="module")
def database_file() -> str:
    url = fresh_database_url("sqlite", "playground_cli")
    migrate.upgrade(url)
    return url


def _xtrack(url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xtrack", "playground", *args],
        env={**os.environ, "XTRACK_DATABASE_URL": url, "COLUMNS": "100", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


async def _rows(url: str) -> list[tuple[JobExecution, Summary | None]]:
    database = Database(create_engine(url))
    try:
        async with database.session() as session:
            rows = await session.execute(
                select(JobExecution, Summary)
                .outerjoin(Summary, Summary.execution_id == JobExecution.id)
                .order_by(JobExecution.id)
            )
            return [(row[0], row[1]) for row in rows]
    finally:
        await database.dispose()


async def _add_user(url: str, email: str) -> int:
    database = Database(create_engine(url))
    try:
        async with database.session() as session:
            user = await users_service.create(
                session,
                email=email,
                password="correct horse battery",
                status=UserStatus.ACTIVE,
                settings=get_settings(),
            )
            return user.id
    finally:
        await database.dispose()


def test_prints_the_summary_of_a_demo_run_recorded_as_the_local_operators(database_file: str) -> None:
    result = _xtrack(database_file, "@demo_carol", "--topics", "ai,chips", "--hours", "12")
    assert result.returncode == 0, result.stderr
    (run, summary), *_ = [
        row for row in asyncio.run(_rows(database_file)) if row[0].params["x_username"] == "demo_carol"
    ]
    assert (run.trigger, run.status, run.user_id, run.job_id) == ("PLAYGROUND", "COMPLETED", None, None)
    assert run.params == {
        "x_username": "demo_carol",
        "topics": ["ai", "chips"],
        "hours_back": 12,
        "language": "en",
    }
    assert summary is not None and summary.is_playground and summary.raw_data is not None
    # The rendered Markdown: the headline without its "##", then the posts/model/cost line.
    headline = summary.raw_data["headline"]
    assert headline in result.stdout and "## " not in result.stdout
    assert f"{summary.tweets_count} posts · extractive · " in result.stdout and "$0" in result.stdout
    assert "Traceback" not in result.stderr


def test_on_a_new_database_it_migrates_first_like_serve_and_demo() -> None:
    url = fresh_database_url("sqlite", "playground_cli_new")  # no tables yet
    result = _xtrack(url, "demo_dave", "--hours", "6")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and " posts · extractive · " in result.stdout
    [(run, summary)] = asyncio.run(_rows(url))
    assert run.status == "COMPLETED" and summary is not None


def test_with_a_user_the_run_is_theirs_and_counts_toward_their_quota(database_file: str) -> None:
    user_id = asyncio.run(_add_user(database_file, "cli-player@example.com"))
    quota = {"XTRACK_PLAYGROUND_DAILY_QUOTA": "1"}
    first = _xtrack(
        database_file, "demo_dave", "--user", "CLI-player@example.com", "--language", "de", **quota
    )
    assert first.returncode == 0, first.stderr
    [(run, summary)] = [row for row in asyncio.run(_rows(database_file)) if row[0].user_id == user_id]
    assert run.status == "COMPLETED" and run.params["language"] == "de"
    assert summary is not None and summary.user_id == user_id

    second = _xtrack(database_file, "demo_dave", "--user", "cli-player@example.com", **quota)
    assert second.returncode == 1
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: You have used your 1 playground runs"), (
        second.stderr
    )

    nobody = _xtrack(database_file, "demo_dave", "--user", "nobody@example.com")
    assert nobody.returncode == 1
    assert nobody.stderr.strip() == "error: No user with email nobody@example.com."


def test_bad_input_is_one_line_naming_the_option() -> None:
    runner = CliRunner()
    for args, option in (
        (["alice", "--hours", "500"], "--hours"),
        (["not a name"], "USERNAME"),
        (["alice", "--language", "english please"], "--language"),
    ):
        result = runner.invoke(cli_app, ["playground", *args])
        assert result.exit_code == 2, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {option}: "), result.stderr


def test_an_unknown_account_on_the_x_source_fails_in_one_line(database_file: str) -> None:
    fake = FakeX()
    fake.add_user("alice")
    with serve_app(fake.app) as base_url:
        result = _xtrack(
            database_file,
            "nosuchuser",
            "--topics",
            "ai",
            XTRACK_SOURCE="x",
            XTRACK_X_API_URL=base_url,
            XTRACK_X_BEARER_TOKEN=fake.token,
        )
    assert result.returncode == 1
    assert result.stderr.strip() == "error: @nosuchuser does not exist on X (source_not_found)"
    assert result.stdout.strip() == ""
    assert fake.count("/users/by/username/nosuchuser") == 1
    [(run, summary)] = [
        row for row in asyncio.run(_rows(database_file)) if row[0].params["x_username"] == "nosuchuser"
    ]
    assert (run.status, run.error_kind, run.attempt, summary) == ("FAILED", "source_not_found", 1, None)
