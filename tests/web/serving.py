"""A real ``xtrack serve`` process on a free port, in a temporary directory, for tests that need
what only a real server does (uvicorn's proxy headers, the process's memory)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.fakes.server import free_port


def server_env(workdir: Path, port: int, **settings: str) -> dict[str, str]:
    """The environment of an ``xtrack`` process on ``port`` with its SQLite database in ``workdir``
    (the same for ``db upgrade``, ``demo`` and ``serve``, as ``make run`` runs them)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XTRACK_")}
    env.update(
        {
            "XTRACK_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'xtrack.db'}",
            "XTRACK_DATA_DIR": str(workdir / "data"),
            "XTRACK_BASE_URL": f"http://127.0.0.1:{port}",
            "XTRACK_PORT": str(port),
            "XTRACK_LOG_LEVEL": "WARNING",
            "XTRACK_ARGON2_TIME_COST": "1",
            "XTRACK_ARGON2_MEMORY_KIB": "8",
            **settings,
        }
    )
    return env


@contextmanager
def serving(
    workdir: Path, *, port: int | None = None, **settings: str
) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """``with serving(tmp_path, XTRACK_SIGNIN_RATE_LIMIT="2/minute") as (port, process):``"""
    port = port or free_port()
    env = server_env(workdir, port, **settings)
    server = subprocess.Popen(
        [sys.executable, "-m", "xtrack", "serve"],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, server.stderr.read() if server.stderr else "server exited"
            assert time.monotonic() < deadline, "server did not become healthy"
            time.sleep(0.2)
        yield port, server
    finally:
        server.terminate()
        server.wait(timeout=30)
