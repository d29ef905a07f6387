"""`.env.example` can never go stale: every setting has a documented entry and the file loads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from xtrack.config import Settings

ENV_EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"
ENTRY = re.compile(r"^(XTRACK_[A-Z0-9_]+)=(.*)$")


def entries() -> dict[str, str]:
    return {
        m.group(1): m.group(2) for line in ENV_EXAMPLE.read_text().splitlines() if (m := ENTRY.match(line))
    }


def expected_names() -> set[str]:
    return {f"XTRACK_{name.upper()}" for name in Settings.model_fields}


def test_every_setting_has_an_entry_and_nothing_else_does() -> None:
    names = set(entries())
    assert not expected_names() - names, f"missing from .env.example: {sorted(expected_names() - names)}"
    assert not names - expected_names(), f"unknown in .env.example: {sorted(names - expected_names())}"


def test_each_setting_is_listed_once() -> None:
    names = [m.group(1) for line in ENV_EXAMPLE.read_text().splitlines() if (m := ENTRY.match(line))]
    assert sorted({name for name in names if names.count(name) > 1}) == []


def test_every_entry_has_a_comment_line_above_it() -> None:
    lines = ENV_EXAMPLE.read_text().splitlines()
    for index, line in enumerate(lines):
        if ENTRY.match(line):
            above = lines[index - 1]
            assert above.startswith("#") or ENTRY.match(above), f"{line.split('=')[0]} has no comment"


def test_the_file_loads_into_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("XTRACK_"):
            monkeypatch.delenv(name)
    settings = Settings(_env_file=ENV_EXAMPLE)  # type: ignore[call-arg]
    assert settings.source == "demo" and settings.summarizer == "extractive"
    assert settings.smtp_url is None  # empty means "not set"
    assert settings.secret_key is None


def test_a_setting_added_without_an_entry_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    # The check above compares against Settings.model_fields; a new field shows up there at once.
    class Extended(Settings):
        brand_new_knob: int = 1

    missing = {f"XTRACK_{n.upper()}" for n in Extended.model_fields} - set(entries())
    assert missing == {"XTRACK_BRAND_NEW_KNOB"}
