from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import fresh_database_url


def xtrack(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "xtrack", *args],
        capture_output=True,
        text=True,
        env=full_env,
        input=stdin,
        timeout=60,
    )


def test_invalid_database_url_is_one_line_and_exit_2() -> None:
    result = xtrack("db", "upgrade", env={"XTRACK_DATABASE_URL": "mysql://nope"})
    assert result.returncode == 2
    assert "XTRACK_DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_setting_value_names_the_variable() -> None:
    result = xtrack("db", "upgrade", env={"XTRACK_LEASE_SECONDS": "soon"})
    assert result.returncode == 2
    assert "XTRACK_LEASE_SECONDS" in result.stderr and "Traceback" not in result.stderr


def test_users_create_refuses_a_malformed_email(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    result = xtrack(
        "users",
        "create",
        "not-an-email",
        "--password-stdin",
        env={"XTRACK_DATABASE_URL": url},
        stdin="long enough password\n",
    )
    assert result.returncode != 0
    assert "not a valid email" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_db_upgrade_then_users_create_and_list(kind: str) -> None:
    url = fresh_database_url(kind, "cli")
    env = {"XTRACK_DATABASE_URL": url}
    assert xtrack("db", "upgrade", env=env).returncode == 0
    assert xtrack("db", "check", env=env).returncode == 0
    created = xtrack(
        "users", "create", "Ada@Example.com", "--password-stdin", env=env, stdin="long enough password\n"
    )
    assert created.returncode == 0, created.stderr
    assert "ada@example.com" in created.stdout and "ACTIVE" in created.stdout
    duplicate = xtrack(
        "users", "create", "ada@example.com", "--password-stdin", env=env, stdin="long enough pw 2\n"
    )
    assert duplicate.returncode == 1 and "already exists" in duplicate.stderr
    listed = xtrack("users", "list", env=env)
    assert "ada@example.com" in listed.stdout


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_database_without_tables_is_one_line_saying_to_migrate(kind: str) -> None:
    env = {"XTRACK_DATABASE_URL": fresh_database_url(kind, "cli_empty")}
    for command in (["users", "list"], ["export", "--user", "ada@example.com"]):
        result = xtrack(*command, env=env)
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
        assert "no XTrack tables yet: run `xtrack db upgrade`" in result.stderr


@pytest.mark.parametrize("command", ["web", "scheduler", "worker"])
def test_long_running_processes_refuse_a_database_that_is_not_migrated(command: str) -> None:
    env = {
        "XTRACK_DATABASE_URL": fresh_database_url("sqlite", f"cli_{command}"),
        "XTRACK_EXECUTOR": "celery" if command == "worker" else "local",
        "XTRACK_BROKER_URL": "redis://127.0.0.1:6379/15",
    }
    result = xtrack(command, env=env)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "the database is not migrated (no tables): run `xtrack db upgrade`" in result.stderr
    assert xtrack("db", "upgrade", env=env).returncode == 0  # once migrated, the check passes
    from xtrack import migrate

    assert migrate.pending(env["XTRACK_DATABASE_URL"]) is None


def test_pending_names_a_database_behind_the_code_and_lets_newer_code_s_schema_be() -> None:
    from alembic.script import ScriptDirectory

    from xtrack import migrate

    url = fresh_database_url("sqlite", "cli_behind")
    script = ScriptDirectory.from_config(migrate.alembic_config(url))
    [head] = script.get_heads()
    previous = script.get_revision(head).down_revision
    assert isinstance(previous, str)
    migrate.upgrade(url, previous)
    behind = migrate.pending(url)
    assert behind == f"revision {previous}, this code expects {head}"
    migrate.upgrade(url)
    assert migrate.pending(url) is None
    # A revision this code does not know was written by newer code (a rolling deploy): let be.
    with sqlite3.connect(make_url(url).database or "") as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'from_newer_code'")
    assert migrate.pending(url) is None


def test_version() -> None:
    result = xtrack("--version")
    assert result.returncode == 0 and "xtrack" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["users", "create", "--bogus"], "No such option: --bogus (see `xtrack users create --help`)"),
        (["playground", "alice", "--hours", "abc"], "Invalid value for '--hours'"),
        (["nosuch"], "No such command 'nosuch'."),
        (["export", "--user", "not-an-email"], "'not-an-email' is not a valid email address"),
        (["playground", "alice", "--user", "not-an-email"], "'not-an-email' is not a valid email address"),
        (["users", "suspend", "nobody"], "'nobody' is not a valid email address"),
        # A port no socket can have (0 would have fallen back to XTRACK_PORT, 99999 wrapped around).
        (["web", "--port", "99999"], "Invalid value for '--port'"),
        (["serve", "--port", "0"], "Invalid value for '--port'"),
        (["worker", "--loglevel", "LOUD"], "'LOUD' is not one of DEBUG, INFO, WARNING, ERROR"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    result = xtrack(*args, env={"XTRACK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"})
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "cli.db").exists()  # refused before anything ran


def test_a_runtime_error_is_one_line_and_exit_1(tmp_path: Path) -> None:
    env = {"XTRACK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"}
    assert xtrack("db", "upgrade", env=env).returncode == 0
    result = xtrack("users", "suspend", "nobody@example.com", env=env)
    assert result.returncode == 1 and result.stderr.strip() == "error: No user with email nobody@example.com."


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_db_upgrade_says_what_it_did(kind: str) -> None:
    from alembic.script import ScriptDirectory

    from xtrack import migrate

    url = fresh_database_url(kind, "cli_says")
    script = ScriptDirectory.from_config(migrate.alembic_config(url))
    [head] = script.get_heads()
    first = xtrack("db", "upgrade", env={"XTRACK_DATABASE_URL": url})
    assert first.returncode == 0, first.stderr
    tables = len(migrate.schema_state(url).tables)
    assert tables > 10
    assert (
        first.stdout.strip() == f"migrated from an empty database to revision {head}: {tables} tables created"
    )
    assert "INFO" not in first.stderr + first.stdout  # none of Alembic's own lines
    again = xtrack("db", "upgrade", env={"XTRACK_DATABASE_URL": url})
    assert again.stdout.strip() == f"database is up to date (revision {head})"
    previous = script.get_revision(head).down_revision
    assert isinstance(previous, str)
    migrate.downgrade(url, previous)
    behind = xtrack("db", "upgrade", env={"XTRACK_DATABASE_URL": url})
    assert behind.stdout.strip().startswith(f"migrated from revision {previous} to revision {head}: ")


def test_a_bad_log_level_setting_is_a_configuration_error(tmp_path: Path) -> None:
    env = {"XTRACK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}", "XTRACK_LOG_LEVEL": "loud"}
    result = xtrack("scheduler", env=env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        "error: configuration: XTRACK_LOG_LEVEL: must be one of DEBUG, INFO, WARNING, ERROR, not 'loud'"
    )


def test_a_port_in_use_is_one_line_and_exit_1(tmp_path: Path) -> None:
    env = {"XTRACK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"}
    assert xtrack("db", "upgrade", env=env).returncode == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = xtrack("web", "--host", "127.0.0.1", "--port", str(port), env=env)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip() == (
        f"error: cannot listen on 127.0.0.1:{port}: address already in use "
        "(another process has it? choose another with --port or XTRACK_PORT)"
    )
