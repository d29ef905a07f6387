"""The run-count check (tests/run_count.py) on small suites in their own pytest processes: the
suite `make test` runs is only trusted because a green run here means every collected test ran."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Two items that share one node id, made the way schemathesis makes its items under pytest 9.
TWINS = """
import pytest

def _check():
    assert True

def pytest_pycollect_makeitem(collector, name, obj):
    if name == "test_twins":
        return [
            pytest.Function.from_parent(
                collector, name=f"test_twins[{n}]", originalname="test_twins", callobj=_check
            )
            for n in range(3)
        ]
    return None
"""


def _pytest(tmp_path: Path, tests: str, *args: str, conftest: str = "") -> subprocess.CompletedProcess[str]:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "conftest.py").write_text(conftest)
    (tmp_path / "test_suite.py").write_text(tests)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.run_count", "-p", "no:cacheprovider", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_suite_that_runs_everything_stays_green(tmp_path: Path) -> None:
    result = _pytest(tmp_path, "def test_one():\n    pass\n\ndef test_two():\n    pass\n")
    assert result.returncode == 0, result.stdout
    assert "run count: 2 of 2 collected tests ran" in result.stdout


def test_a_skip_fails_the_run_and_names_the_test(tmp_path: Path) -> None:
    tests = "import pytest\n\ndef test_ok():\n    pass\n\ndef test_later():\n    pytest.skip('later')\n"
    result = _pytest(tmp_path, tests)
    assert result.returncode == 1, result.stdout
    assert "run count: 1 skipped" in result.stdout and "test_suite.py::test_later" in result.stdout


def test_an_expected_failure_is_accounted_for(tmp_path: Path) -> None:
    tests = "import pytest\n\n@pytest.mark.xfail(strict=True)\ndef test_known():\n    assert False\n"
    result = _pytest(tmp_path, tests)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("workers", [[], ["-n", "2", "--dist", "loadgroup"]], ids=["one process", "xdist"])
def test_items_sharing_an_id_are_caught(tmp_path: Path, workers: list[str]) -> None:
    result = _pytest(tmp_path, "def test_twins():\n    pass\n", *workers, conftest=TWINS)
    if not workers:
        # One process runs all three; the ids only collapse where xdist hands tests out by id.
        assert result.returncode == 0, result.stdout
        assert "run count: 3 of 3 collected tests ran" in result.stdout
        return
    assert result.returncode == 1, result.stdout
    assert "run count: 3 tests collected but 1 ran" in result.stdout
