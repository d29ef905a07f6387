"""Findings 8 and 10: production refuses to start without SMTP (links would go to the log) or with
an http:// base URL (cookies would lose Secure), one line naming the variable, exit 2; HSTS is sent."""

from __future__ import annotations

import httpx
import pytest

from tests.foundation.test_cli import xtrack
from xtrack.config import Settings
from xtrack.db import Database
from xtrack.web.app import create_app

PRODUCTION = {
    "XTRACK_ENV": "production",
    "XTRACK_SECRET_KEY": "a-production-secret-key-of-more-than-32-characters",
    "XTRACK_SMTP_URL": "smtp://mail.internal:587",
    "XTRACK_BASE_URL": "https://xtrack.example.com",
}


@pytest.mark.parametrize(
    ("change", "variable"),
    [
        ({"XTRACK_SMTP_URL": ""}, "XTRACK_SMTP_URL"),
        ({"XTRACK_BASE_URL": "http://xtrack.example.com"}, "XTRACK_BASE_URL"),
    ],
)
@pytest.mark.parametrize("command", ["serve", "web", "scheduler"])
def test_production_refuses_to_start(change: dict[str, str], variable: str, command: str) -> None:
    result = xtrack(command, env={**PRODUCTION, **change})
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and variable in lines[0] and "Traceback" not in result.stderr, lines


def test_the_same_settings_are_accepted_outside_production() -> None:
    Settings(env="development", smtp_url=None, base_url="http://127.0.0.1:8000")


@pytest.mark.parametrize(("env", "sent"), [("production", True), ("development", False)])
async def test_hsts_only_in_production(db: Database, settings: Settings, env: str, sent: bool) -> None:
    changed = settings.model_copy(update={"env": env, "base_url": "https://xtrack.example.com"})
    app = create_app(changed, database=db)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://testserver"
    ) as http:
        response = await http.get("/healthz")
    assert ("max-age=31536000" in response.headers.get("strict-transport-security", "")) is sent
