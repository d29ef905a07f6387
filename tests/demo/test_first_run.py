"""The `make run` path in a temporary directory: migrate, load the demo, serve, sign in with what
the demo printed, and find living data."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes.server import free_port
from tests.web.serving import server_env, serving

pytestmark = pytest.mark.xdist_group("processes")


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
    env = server_env(tmp_path, port)
    assert _xtrack(tmp_path, env, "db", "upgrade").returncode == 0
    demo = _xtrack(tmp_path, env, "demo")
    assert demo.returncode == 0, demo.stderr
    with serving(tmp_path, port=port):
        yield f"http://127.0.0.1:{port}", demo.stdout, env, tmp_path


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
