"""``xtrack worker`` exits non-zero when Celery stops it on an unrecoverable error, so a supervisor
that restarts on failure (systemd ``Restart=on-failure``, Docker ``on-failure``) brings it back.
The soak found workers exiting 0 after kombu failed to reconnect to a restarted Redis."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import fresh_database_url
from xtrack import migrate
from xtrack.worker import worker_exit_code

pytestmark = [pytest.mark.process, pytest.mark.xdist_group("processes")]

# A worker whose start-up hits an error Celery cannot recover from (a bootstep raising, as kombu's
# AttributeError did): the process must say it failed.
SCRIPT = textwrap.dedent(
    """
    import sys
    from celery import bootsteps
    import xtrack.worker as worker
    from xtrack.config import get_settings

    class Unrecoverable(bootsteps.StartStopStep):
        requires = ("celery.worker.components:Pool",)

        def start(self, parent):
            raise RuntimeError("the broker connection cannot be restored")

    build = worker.make_worker_app

    def with_failing_step(settings):
        app = build(settings)
        app.steps["worker"].add(Unrecoverable)
        return app

    worker.make_worker_app = with_failing_step
    sys.exit(worker.run_worker(get_settings(), concurrency=1, loglevel="WARNING"))
    """
)


def test_a_worker_stopped_by_an_unrecoverable_error_exits_non_zero(tmp_path: Path) -> None:
    url = fresh_database_url("sqlite", "worker_exit")
    migrate.upgrade(url)
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"),
        "XTRACK_DATABASE_URL": url,
        "XTRACK_DATA_DIR": str(tmp_path / "data"),
        "XTRACK_EXECUTOR": "celery",
        "XTRACK_BROKER_URL": "redis://127.0.0.1:6379/13",
        "XTRACK_CELERY_QUEUE": f"xtrack-test-exit-{tmp_path.name}",
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert "Unrecoverable error" in done.stdout + done.stderr, done.stderr[-2000:]
    assert done.returncode == 1, done.stderr[-2000:]


def test_the_exit_code_is_celerys_or_the_workers_at_shutdown() -> None:
    assert worker_exit_code(None, []) == 0
    assert worker_exit_code(None, [0]) == 0
    assert worker_exit_code(None, [1]) == 1
    assert worker_exit_code(2, [1]) == 2
