"""`xtrack doctor`: one line per check with a mark and a hint; non-zero exit when something required fails."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.conftest import fresh_database_url
from tests.fakes.server import free_port, serve_app
from tests.sources.fakes import FakeX
from xtrack import migrate
from xtrack.config import Settings
from xtrack.db import Database, create_engine
from xtrack.ops import doctor

WRONG_TOKEN = "wrong-token-0123456789abcdefXYZ"


@pytest.fixture(scope="module")
def migrated_sqlite() -> str:
    url = fresh_database_url("sqlite", "ops_doctor")
    migrate.upgrade(url)
    return url


def _doctor(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xtrack", "doctor"],
        env={**os.environ, "COLUMNS": "250", "NO_COLOR": "1", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _line(output: str, name: str) -> str:
    lines = [line for line in output.splitlines() if f" {name} " in line]
    assert len(lines) == 1, output
    return lines[0]


@pytest.mark.process
def test_a_wrong_x_token_is_a_failed_line_with_a_hint(migrated_sqlite: str) -> None:
    fake = FakeX(token="the-right-token")
    with serve_app(fake.app) as url:
        result = _doctor(
            XTRACK_DATABASE_URL=migrated_sqlite,
            XTRACK_SOURCE="x",
            XTRACK_X_BEARER_TOKEN=WRONG_TOKEN,
            XTRACK_X_API_URL=url,
        )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    source = _line(output, "Source (x)")
    assert "✗" in source and "HTTP 401" in source and "check XTRACK_X_BEARER_TOKEN" in source
    assert "✓" in _line(output, "Database") and "✓" in _line(output, "Migrations")
    assert "failed: Source (x)" in result.stderr
    assert WRONG_TOKEN not in output
    assert fake.count("/2/users/by/username/XDevelopers") == 1  # one cheap call, no retries


@pytest.mark.process
def test_the_right_x_token_passes(migrated_sqlite: str) -> None:
    fake = FakeX(token="the-right-token")
    with serve_app(fake.app) as url:  # the probe account is unknown to the fake: the call still worked
        result = _doctor(
            XTRACK_DATABASE_URL=migrated_sqlite,
            XTRACK_SOURCE="x",
            XTRACK_X_BEARER_TOKEN="the-right-token",
            XTRACK_X_API_URL=url,
        )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "✓" in _line(output, "Source (x)") and "credentials accepted" in output
    skipped = "\N{EN DASH}"  # the mark of a check that does not apply (not configured)
    assert skipped in _line(output, "Broker") and skipped in _line(output, "SMTP")


@pytest.mark.process
def test_bad_configuration_and_a_missing_database() -> None:
    result = _doctor(XTRACK_SOURCE="x")  # no bearer token
    assert result.returncode == 1
    assert "✗" in _line(result.stdout, "Configuration") and "XTRACK_X_BEARER_TOKEN" in result.stdout

    missing = fresh_database_url("sqlite", "ops_doctor_missing")
    result = _doctor(XTRACK_DATABASE_URL=missing)
    assert result.returncode == 1
    database = _line(result.stdout, "Database")
    assert "✗" in database and "does not exist" in database and "xtrack db upgrade" in database
    assert not os.path.exists(missing.split(":///", 1)[1])  # the doctor created no empty file


def _models_app(key: str) -> Starlette:
    async def models(request: Request) -> Response:
        given = request.headers.get("authorization", "").removeprefix("Bearer ") or request.headers.get(
            "x-api-key", ""
        )
        if given != key:
            return JSONResponse({"error": {"message": "Incorrect API key"}}, status_code=401)
        return JSONResponse({"data": [{"id": "gpt-4o-mini"}, {"id": "claude-haiku-4-5"}]})

    return Starlette(routes=[Route("/v1/models", models)])


@pytest.fixture(scope="module")
def models_server() -> Iterator[str]:
    with serve_app(_models_app("sk-right-key-0123456789")) as url:
        yield url


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_llm_check(settings: Settings, models_server: str, kind: str) -> None:
    base = f"{models_server}/v1" if kind == "openai" else models_server

    def check(key: str) -> doctor.Check:
        llm = settings.model_copy(
            update={
                "summarizer": kind,
                "llm_url": base,
                "llm_api_key": SecretStr(key),
                "llm_model": "gpt-4o-mini",
            }
        )
        return asyncio.run(doctor.check_llm(llm))

    good = check("sk-right-key-0123456789")
    assert good.mark is doctor.Mark.OK and "model gpt-4o-mini listed" in good.detail
    bad = check("sk-wrong-key-0123456789")
    assert bad.mark is doctor.Mark.FAIL and bad.hint == "check XTRACK_LLM_API_KEY" and bad.failed
    unreachable = asyncio.run(
        doctor.check_llm(
            settings.model_copy(
                update={
                    "summarizer": kind,
                    "llm_url": f"http://127.0.0.1:{free_port()}",
                    "llm_api_key": SecretStr("k"),
                }
            )
        )
    )
    assert unreachable.mark is doctor.Mark.FAIL and "XTRACK_LLM_URL" in unreachable.hint


def test_smtp_check(settings: Settings, smtp_server: tuple[object, str]) -> None:
    inbox, url = smtp_server
    good = asyncio.run(doctor.check_smtp(settings.model_copy(update={"smtp_url": url})))
    assert good.mark is doctor.Mark.OK and "answers" in good.detail
    assert getattr(inbox, "messages") == []  # noqa: B009 - connected, no mail sent
    closed = f"smtp://user:pw-secret@127.0.0.1:{free_port()}"
    bad = asyncio.run(doctor.check_smtp(settings.model_copy(update={"smtp_url": closed})))
    assert bad.mark is doctor.Mark.FAIL and "XTRACK_SMTP_URL" in bad.hint and "pw-secret" not in bad.detail


def test_broker_check(settings: Settings) -> None:
    local = asyncio.run(doctor.check_broker(settings))
    assert local.mark is doctor.Mark.SKIP and not local.failed
    up = settings.model_copy(
        update={"executor": "celery", "broker_url": "amqp://guest:guest@127.0.0.1:5672//"}
    )
    ok = asyncio.run(doctor.check_broker(up))
    assert ok.mark is doctor.Mark.OK and "guest:guest" not in ok.detail
    down = settings.model_copy(
        update={"executor": "celery", "broker_url": f"redis://127.0.0.1:{free_port()}/0"}
    )
    assert asyncio.run(doctor.check_broker(down)).failed


def test_migrations_behind_head() -> None:
    url = fresh_database_url("sqlite", "ops_doctor_behind")
    migrate.upgrade(url, "0001")

    async def check() -> doctor.Check:
        database = Database(create_engine(url))
        try:
            return await doctor.check_migrations(database, url)
        finally:
            await database.dispose()

    result = asyncio.run(check())
    assert result.failed and "at 0001" in result.detail and result.hint == "run `xtrack db upgrade`"
