"""The chaos soak's short form (``bench/soak.py --minutes 2 --jobs 200``) in the normal suite: a
regression in any guarantee of ``docs/guarantees.md`` fails the build. It asserts the guarantees
and that each fault happened, never a timing, so a loaded machine makes it slower, not red."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.process, pytest.mark.xdist_group("processes")]

FAULTS = (
    "kill_worker",
    "kill_scheduler",
    "restart_broker",
    "restart_postgres",
    "pause_worker",
    "webhook_down",
    "webhook_slow",
)


@pytest.mark.timeout(600)
def test_two_minutes_of_chaos_lose_duplicate_and_leave_nothing(tmp_path: Path) -> None:
    output = tmp_path / "soak.json"
    argv = ["--minutes", "2", "--jobs", "200", "--chaos-interval", "4", "10", "--output", str(output)]
    result = subprocess.run(
        [sys.executable, "-m", "bench.soak", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=570,
        check=False,
    )
    assert output.exists(), result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(output.read_text())
    failed = [check for check in report["checks"] if not check["ok"]]
    assert not failed, f"{failed}\n{result.stdout[-4000:]}"
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    # The run did what it claims: each fault at least once, under load, with LLM failures and bursts.
    assert {fault: report["faults"].get(fault, 0) >= 1 for fault in FAULTS} == dict.fromkeys(FAULTS, True)
    assert report["faults"]["bursts"] >= 1
    assert report["executions"]["by_status"].get("COMPLETED", 0) >= 200
    assert report["posts"]["published"] >= 300 and report["deliveries"]["expected"] >= 50
    assert sum(n for outcome, n in report["llm"].items() if outcome != "ok") >= 1
    assert report["executions"]["not_final"] == 0 and report["posts"]["lost_by_job"] == 0
    assert report["deliveries"]["lost"] == 0 and report["executions"]["duplicate_slots"] == 0
    assert report["posts"]["reads_per_new_post"] <= 1.01
