"""What the soak starts and may kill: its own PostgreSQL cluster (initdb/pg_ctl in a temporary
folder, on a free port), its own redis-server, and the XTrack processes. Nothing else on the
machine is ever signalled: every kill and restart goes through the handles kept here."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.fakes.server import free_port

PG_BIN = Path(os.environ.get("XTRACK_SOAK_PG_BIN", "/usr/lib/postgresql/15/bin"))
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def _as_postgres(argv: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the ``postgres`` user when root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


def _wait_port(port: int, timeout: float) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing answered on 127.0.0.1:{port} after {timeout:g} s")


@dataclass
class OwnPostgres:
    """A PostgreSQL cluster of the soak's own: ``restart()`` stops it hard (immediate: crash
    recovery at the next start, like a host that lost power) and starts it again."""

    root: Path
    port: int = field(default_factory=free_port)
    restarts: int = 0

    @property
    def data(self) -> Path:
        return self.root / "pgdata"

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/soak"

    def _ctl(self, *args: str, check: bool = True) -> None:
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), *args]),
            check=check,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
        )

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
        subprocess.run(
            _as_postgres(
                [str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync"]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=120,
        )
        self.start()
        subprocess.run(
            _as_postgres(
                [str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "soak"]
            ),
            check=True,
            timeout=60,
        )

    def start(self) -> None:
        options = (
            # Commits stay durable (synchronous_commit on): the restarts are crashes (immediate stop),
            # and a commit lost in one would be a fault no deployment has. fsync and full-page writes
            # only matter when the machine itself goes down, which the soak never does.
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c max_connections=400 "
            "-c fsync=off -c full_page_writes=off -c shared_buffers=128MB"
        )
        self._ctl("-o", options, "-l", str(self.root / "postgres.log"), "-w", "-t", "60", "start")
        _wait_port(self.port, 30)

    def stop(self, mode: str = "fast") -> None:
        self._ctl("-m", mode, "-w", "-t", "60", "stop", check=False)

    def restart(self, down_seconds: float) -> None:
        self.stop("immediate")
        time.sleep(down_seconds)
        self.start()
        self.restarts += 1

    def pids(self) -> dict[str, int]:
        pidfile = self.data / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError):
            return {"postgres": int(pidfile.read_text().split()[0])}
        return {}


@dataclass
class OwnRedis:
    """A redis-server of the soak's own, without persistence: a restart loses every queued message,
    so the engine has to hand them out again from the database."""

    root: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "redis.log", "ab") as log:
            self.process = subprocess.Popen(
                [
                    REDIS_SERVER,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                cwd=self.root,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait_port(self.port, 30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def restart(self, down_seconds: float) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()
        self.restarts += 1

    def pids(self) -> dict[str, int]:
        if self.process is not None and self.process.poll() is None:
            return {"redis": self.process.pid}
        return {}


@dataclass
class Processes:
    """The XTrack processes, by name (``web``, ``scheduler-1``, ``worker-2``...); a replacement keeps
    the name, and the peak RSS of every process that ever held a name is kept under it."""

    logs: Path
    env: dict[str, str]
    running: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    argv: dict[str, list[str]] = field(default_factory=dict)
    peak_rss_kib: dict[str, int] = field(default_factory=dict)
    started: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    unexpected_exits: list[int] = field(default_factory=list)  # exit codes of processes nobody stopped

    def start(self, name: str, *argv: str) -> subprocess.Popen[bytes]:
        self.argv[name] = list(argv)
        self.started[name] = self.started.get(name, 0) + 1
        with open(self.logs / f"{name}.log", "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "xtrack", *argv],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.running[name] = process
        return process

    def kill(self, name: str) -> None:
        """SIGKILL (no shutdown code runs), then a new process under the same name. Under the lock,
        so the watcher never takes the killed process for one that died by itself and starts a
        second one (which nobody would then stop)."""
        with self.lock:
            process = self.running[name]
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
            self.start(name, *self.argv[name])

    def restart_dead(self) -> list[tuple[str, int | None]]:
        """Start again each process that exited by itself; returns their names and exit codes."""
        with self.lock:
            dead = [(name, self.running[name].returncode) for name in self.dead()]
            for name, code in dead:
                self.unexpected_exits.append(code if code is not None else -1)
                self.start(name, *self.argv[name])
            return dead

    def signal(self, name: str, signum: int) -> None:
        self.running[name].send_signal(signum)

    def dead(self) -> list[str]:
        return [name for name, process in self.running.items() if process.poll() is not None]

    def sample_rss(self, extra: dict[str, int]) -> None:
        pids = {name: p.pid for name, p in self.running.items() if p.poll() is None} | extra
        for name, pid in pids.items():
            rss = _tree_rss_kib(pid)
            role = name.rstrip("0123456789").rstrip("-") or name
            if rss:
                self.peak_rss_kib[role] = max(self.peak_rss_kib.get(role, 0), rss)

    def terminate_all(self, timeout: float = 30.0) -> dict[str, int | None]:
        for process in self.running.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGCONT)
                    process.send_signal(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        deadline = time.monotonic() + timeout
        for name, process in self.running.items():
            try:
                codes[name] = process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                codes[name] = None
        return codes


def _tree_rss_kib(pid: int) -> int:
    """Memory of a process and its children (a Celery worker may fork, PostgreSQL has a backend per
    connection), from /proc: the proportional set size, so pages the children share with their
    parent (PostgreSQL's shared buffers) count once, not once per process."""
    total = 0
    for candidate in [pid, *_children(pid)]:
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{candidate}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
    return total


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError, ValueError):
                found += [int(c) for c in (task / "children").read_text().split()]
    return found
