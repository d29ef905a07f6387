"""The size rules of the structure issue, kept by the build: a module a reader can hold in mind,
a function that fits on a screen. Migrations are history, not design, and are left out."""

from __future__ import annotations

import ast
from pathlib import Path

import xtrack

MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80
PACKAGE = Path(xtrack.__file__).parent


def _modules() -> list[Path]:
    paths = PACKAGE.rglob("*.py")
    return sorted(path for path in paths if "migrations" not in path.relative_to(PACKAGE).parts)


def test_the_package_is_where_the_rules_look() -> None:
    names = {path.relative_to(PACKAGE).as_posix() for path in _modules()}
    assert {"runtime.py", "executions/runner.py", "posts/fetch.py"} <= names


def test_no_module_is_over_500_lines() -> None:
    too_long = {
        path.relative_to(PACKAGE).as_posix(): lines
        for path in _modules()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert too_long == {}


def test_no_function_is_over_80_lines() -> None:
    too_long: dict[str, int] = {}
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno is not None:
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    too_long[f"{path.relative_to(PACKAGE).as_posix()}:{node.name}"] = lines
    assert too_long == {}
