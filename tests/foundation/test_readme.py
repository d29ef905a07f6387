"""Every ``xtrack`` command the README shows works as written in a shell where ``.venv`` is
activated (the README says to activate it after ``make run``): the one-off commands run for real,
in order, on a fresh database; the long-running ones answer ``--help`` with the options shown."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent  # the environment `make run` installs into
EMAIL = "reader@example.com"

# What each command of the README runs here: its words before any placeholder, and the command
# line typed for it (placeholders filled in), in an order that works on a fresh database.
RUNS: dict[str, str] = {
    "db upgrade": "xtrack db upgrade",
    "db check": "xtrack db check",
    "demo": "xtrack demo",
    "users create": f"echo 'long enough password' | xtrack users create {EMAIL} --password-stdin --admin",
    "users list": "xtrack users list",
    "users suspend": f"xtrack users suspend {EMAIL}",
    "users activate": f"xtrack users activate {EMAIL}",
    "users make-admin": f"xtrack users make-admin {EMAIL}",
    "playground": f"xtrack playground alice --topics ai,chips --hours 24 --user {EMAIL}",
    "doctor": "xtrack doctor",
    "maintenance prune": "xtrack maintenance prune",
    "export": f"xtrack export --user {EMAIL} --format md",
    "targets rotate-key": "xtrack targets rotate-key",
    "sources status": "xtrack sources status",
    # Nothing is paused on a fresh database: the command answers so (tests/ops/test_source_pause.py
    # resumes a paused source with it).
    "sources resume": "xtrack sources resume x",
}
# Commands that answer with a one-line refusal here, and that refusal.
REFUSES = {"sources resume": (1, "error: x is not paused")}
# Long-running: they answer --help listing the options the README uses with them.
SERVERS = {"serve": [], "web": ["--host", "--port"], "scheduler": [], "worker": ["--concurrency"]}


GROUPS = {"db", "users", "maintenance", "targets", "sources"}
CODE_BLOCK = re.compile(r"```[a-z]*\n(.*?)```", flags=re.DOTALL)


def readme_lines() -> list[str]:
    """Every line of the README's code blocks and every inline code span, comments dropped."""
    text = (ROOT / "README.md").read_text()
    lines = [
        line.split("#", 1)[0].strip() for block in CODE_BLOCK.findall(text) for line in block.splitlines()
    ]
    return lines + re.findall(r"`([^`\n]+)`", CODE_BLOCK.sub("", text))


def readme_commands() -> set[str]:
    """The command words of every ``xtrack`` command in the README (code blocks and inline, with or
    without the ``.venv/bin/`` prefix), alternatives (``web | scheduler | worker``) expanded."""
    found: set[str] = set()
    for line in readme_lines():
        line = line.removeprefix(".venv/bin/")
        if not line.startswith("xtrack "):
            continue
        words = line.removeprefix("xtrack ").split()
        group = [words[0]] if words[0] in GROUPS else []
        for alternative in " ".join(words[len(group) :]).split(" | "):
            name = alternative.split()[0]
            if name.isupper() or name.startswith(("-", "[")) or "|" in name:
                name = ""
            found.add(" ".join([*group, name] if name else [*group, words[0]]).strip())
    return found


def readme_celery_commands() -> set[str]:
    """The ``celery -A xtrack.worker …`` commands the README shows, as their words after the app."""
    prefix = "celery -A xtrack.worker "
    return {line.removeprefix(prefix) for line in readme_lines() if line.startswith(prefix)}


def _shell(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", command], env=env, capture_output=True, text=True, timeout=120)


def test_every_readme_command_is_run_here() -> None:
    assert readme_commands() == set(RUNS) | set(SERVERS)


def test_every_celery_command_of_the_readme_is_run_against_a_running_worker() -> None:
    # tests/distributed/test_processes.py types them against a running `xtrack worker`.
    commands = readme_celery_commands()
    assert {"inspect ping", "events"} <= commands
    source = (ROOT / "tests" / "distributed" / "test_processes.py").read_text()
    for command in commands:
        call = ", ".join(f'"{word}"' for word in command.split())
        assert f"celery, {call}" in source, f"celery -A xtrack.worker {command} is run by no test"


@pytest.fixture
def activated(tmp_path: Path) -> dict[str, str]:
    """The environment `. .venv/bin/activate` gives, on a fresh SQLite database."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("XTRACK_")}
    env.update(
        {
            "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
            "VIRTUAL_ENV": str(VENV_BIN.parent),
            "XTRACK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'xtrack.db'}",
            "XTRACK_DATA_DIR": str(tmp_path / "data"),
        }
    )
    return env


def test_the_one_off_commands_work_as_written(activated: dict[str, str]) -> None:
    for name, command in RUNS.items():
        result = _shell(command, activated)
        code, refusal = REFUSES.get(name, (0, ""))
        assert result.returncode == code, f"{name}: {command}\n{result.stdout}\n{result.stderr}"
        assert "Traceback" not in result.stderr, f"{name}: {result.stderr}"
        if refusal:
            assert result.stderr.strip() == refusal, f"{name}: {result.stderr}"


def test_the_prefixed_form_works_without_activating(activated: dict[str, str]) -> None:
    # "or prefix them with .venv/bin/": the same command from a shell whose PATH lacks the venv.
    env = {**activated, "PATH": os.defpath}
    env.pop("VIRTUAL_ENV")
    assert _shell("xtrack --version", env).returncode == 127  # not on the PATH: the prefix is needed
    result = _shell(f"{VENV_BIN}/xtrack db upgrade && {VENV_BIN}/xtrack doctor", env)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", sorted(SERVERS))
def test_the_long_running_commands_answer_help_with_their_options(
    name: str, activated: dict[str, str]
) -> None:
    result = _shell(f"xtrack {name} --help", activated)
    assert result.returncode == 0, result.stderr
    for option in SERVERS[name]:
        assert option in result.stdout, f"xtrack {name}: {option} missing from --help"
