"""The `make run` path in a temporary directory: migrate, load the demo, serve, sign in with what
the demo printed, and find living data."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes.server import free_port

pytestmark = pytest.mark.xdist_group("processes")


def _env(workdir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XTRACK_")}
    env.update(
        {
            "XTRACK_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'xtrack.db'}",
            "XTRACK_DATA_DIR": str(workdir / "data"),
            "XTRACK_BASE_URL": f"http://127.0.0.1:{port}",
            "XTRACK_PORT": str(port),
            "XTRACK_ARGON2_TIME_COST": "1",
            "XTRACK_ARGON2_MEMORY_KIB": "8",
        }
    )
    return env


def _xtrack(workdir: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xtrack", *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _field(output: str, label: str) -> str:
    match = re.search(rf"^\s*{label}:\s+(\S+)", output, re.MULTILINE)
    assert match, f"no '{label}:' line in:\n{output}"
    return match.group(1)


@pytest.fixture
def served_demo(tmp_path: Path) -> Iterator[tuple[str, str, dict[str, str], Path]]:
    port = free_port()
    env = _env(tmp_path, port)
    assert _xtrack(tmp_path, env, "db", "upgrade").returncode == 0
    demo = _xtrack(tmp_path, env, "demo")
    assert demo.returncode == 0, demo.stderr
    server = subprocess.Popen(
        [sys.executable, "-m", "xtrack", "serve"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, server.stderr.read() if server.stderr else "server exited"
            assert time.monotonic() < deadline, "server did not become healthy"
            time.sleep(0.2)
        yield base_url, demo.stdout, env, tmp_path
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_demo_gives_a_living_dashboard_and_is_idempotent(
    served_demo: tuple[str, str, dict[str, str], Path],
) -> None:
    base_url, output, env, workdir = served_demo
    assert _field(output, "Address") == base_url
    email, password, link = _field(output, "Email"), _field(output, "Password"), _field(output, "Sign in")
    assert "demo" in output.lower()

    # Sign in with what the demo printed: the password through the API, the link through the page.
    token = httpx.post(
        f"{base_url}/api/v1/auth/token", json={"email": email, "password": password, "name": "t"}
    )
    assert token.status_code in (200, 201), token.text
    headers = {"Authorization": f"Bearer {token.json()['token']}"}
    assert httpx.get(link).status_code == 200

    jobs = httpx.get(f"{base_url}/api/v1/jobs", headers=headers).json()
    items = jobs["items"] if isinstance(jobs, dict) else jobs
    assert len(items) == 3
    for job in items:
        history = httpx.get(f"{base_url}/api/v1/jobs/{job['id']}/executions", headers=headers).json()["items"]
        completed = [run for run in history if run["status"] == "COMPLETED"]
        assert completed and completed[0]["tweets_fetched"] > 0
        summary = httpx.get(f"{base_url}/api/v1/summaries/{completed[0]['summary_id']}", headers=headers)
        assert summary.status_code == 200 and summary.json()["content"]

    again = _xtrack(workdir, env, "demo")
    assert again.returncode == 0
    assert "nothing new was created" in again.stdout
    assert _field(again.stdout, "Sign in") != link  # a fresh single-use link
    jobs_after = httpx.get(f"{base_url}/api/v1/jobs", headers=headers).json()
    assert len(jobs_after["items"] if isinstance(jobs_after, dict) else jobs_after) == 3
