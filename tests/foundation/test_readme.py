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
}
# Long-running: they answer --help listing the options the README uses with them.
SERVERS = {"serve": [], "web": ["--host", "--port"], "scheduler": [], "worker": ["--concurrency"]}


def readme_commands() -> set[str]:
    """The command words of every ``xtrack`` line in the README's code blocks, alternatives
    (``web | scheduler | worker``) expanded."""
    text = (ROOT / "README.md").read_text()
    found: set[str] = set()
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.DOTALL):
        for line in block.splitlines():
            line = line.split("#", 1)[0].strip()
            if not line.startswith("xtrack "):
                continue
            words = line.removeprefix("xtrack ").split()
            group = [words[0]] if words[0] in {"db", "users", "maintenance"} else []
            for alternative in " ".join(words[len(group) :]).split(" | "):
                name = alternative.split()[0]
                if name.isupper() or name.startswith(("-", "[")) or "|" in name:
                    name = ""
                found.add(" ".join([*group, name] if name else [*group, words[0]]).strip())
    return found


def _shell(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", command], env=env, capture_output=True, text=True, timeout=120)


def test_every_readme_command_is_run_here() -> None:
    assert readme_commands() == set(RUNS) | set(SERVERS)


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
        assert result.returncode == 0, f"{name}: {command}\n{result.stdout}\n{result.stderr}"
        assert "Traceback" not in result.stderr, f"{name}: {result.stderr}"


@pytest.mark.parametrize("name", sorted(SERVERS))
def test_the_long_running_commands_answer_help_with_their_options(
    name: str, activated: dict[str, str]
) -> None:
    result = _shell(f"xtrack {name} --help", activated)
    assert result.returncode == 0, result.stderr
    for option in SERVERS[name]:
        assert option in result.stdout, f"xtrack {name}: {option} missing from --help"
