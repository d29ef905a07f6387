"""The API fuzz run covers the schema: one test per operation the server publishes, each with an id
of its own (xdist hands tests out by id, so shared ids would run one of them)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from xtrack.config import Settings
from xtrack.web.app import create_app

ROOT = Path(__file__).resolve().parents[2]
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def test_every_operation_of_the_schema_has_its_own_fuzz_test() -> None:
    paths = create_app(Settings()).openapi()["paths"]
    operations = {
        f"{method.upper()} {path}" for path, item in paths.items() for method in item if method in METHODS
    }
    collected = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/e2e/test_api_fuzz.py",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert collected.returncode == 0, collected.stdout + collected.stderr
    ids = [line for line in collected.stdout.splitlines() if line.startswith("tests/e2e/test_api_fuzz.py::")]
    assert len(ids) == len(set(ids)), "fuzz tests sharing an id"
    prefix = "tests/e2e/test_api_fuzz.py::test_the_api_keeps_its_schema["
    fuzzed = {line.removeprefix(prefix).removesuffix("][fuzz]") for line in ids if line.startswith(prefix)}
    assert len(operations) > 40
    assert fuzzed == operations, (sorted(operations - fuzzed), sorted(fuzzed - operations))
