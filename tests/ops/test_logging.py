"""Structured logs: one JSON object per line with the event and the run's ids; never a secret."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import make_job, make_user
from tests.ops.conftest import dispatch_and_run
from xtrack.config import Settings
from xtrack.db import Database, utcnow
from xtrack.observability import get_logger, is_secret_key, redact_text, setup_logging

SECRET = "hunter2-Sup3r-s3cret"
BEARER = "AAAAAAAAAAAAAAAAAAAAAxtrackBearer0123456789"


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """Route logging to a buffer in the given format for one test, then put things back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    config = structlog.get_config()
    stream = io.StringIO()
    try:
        yield stream
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.configure(**config)


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    text = stream.getvalue()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]  # every line is one JSON object


async def test_json_logs_carry_event_and_ids(
    log_output: io.StringIO, db: Database, session: AsyncSession, settings: Settings
) -> None:
    setup_logging("json", "INFO", stream=log_output)
    owner = await make_user(session)
    job = await make_job(session, owner=owner, x_username="alice", now=utcnow())
    await session.commit()

    [execution_id] = await dispatch_and_run(db, settings)

    lines = _lines(log_output)
    completed = [line for line in lines if line["event"] == "execution.completed"]
    assert len(completed) == 1
    assert completed[0]["execution_id"] == execution_id
    assert completed[0]["job_id"] == job.id and completed[0]["user_id"] == owner.id
    assert completed[0]["trigger"] == "SCHEDULED" and completed[0]["level"] == "info"
    assert "timestamp" in completed[0] and completed[0]["logger"] == "xtrack.runner"
    # Lines logged by the sources layer on the run's behalf carry the run's ids too.
    fetched = [line for line in lines if line["event"] == "source.fetched"]
    assert fetched and fetched[0]["execution_id"] == execution_id and fetched[0]["user_id"] == owner.id
    # ...and nothing stays bound once the run is over.
    get_logger("xtrack.test").info("after.run")
    assert "execution_id" not in _lines(log_output)[-1]


def test_secrets_are_redacted_in_json(log_output: io.StringIO) -> None:
    setup_logging("json", "INFO", stream=log_output)
    logger = get_logger("xtrack.test")
    logger.info(
        "test.secrets",
        password=SECRET,
        api_key=SECRET,
        llm_api_key=SECRET,
        csrf_token=SECRET,
        headers={"Authorization": f"Bearer {BEARER}", "Accept": "application/json"},
        url=f"postgresql+asyncpg://xtrack:{SECRET}@db.internal/xtrack",
        message=f"upstream said: bad header 'Authorization: Bearer {BEARER}'",
        input_tokens=1200,
        token_id=7,
    )
    logging.getLogger("xtrack.stdlib").warning("stdlib line %s", f"Bearer {BEARER}", extra={"secret": SECRET})
    try:
        raise RuntimeError(f"failed calling https://u:{SECRET}@api.example/ with Bearer {BEARER}")
    except RuntimeError:
        logger.exception("test.failed")
    text = log_output.getvalue()
    assert SECRET not in text and BEARER not in text
    lines = _lines(log_output)
    first = lines[0]
    assert (
        first["password"] == first["api_key"] == first["llm_api_key"] == first["csrf_token"] == "[redacted]"
    )
    assert first["headers"]["Accept"] == "application/json"  # the rest of the data survives
    assert first["url"] == "postgresql+asyncpg://xtrack:[redacted]@db.internal/xtrack"
    assert first["input_tokens"] == 1200 and first["token_id"] == 7  # counters and ids are not secrets
    assert lines[1]["event"] == "stdlib line Bearer [redacted]" and lines[1]["secret"] == "[redacted]"
    assert lines[2]["event"] == "test.failed" and "RuntimeError" in lines[2]["exception"]


def test_console_output_is_redacted_too(log_output: io.StringIO) -> None:
    setup_logging("console", "INFO", stream=log_output)
    logger = get_logger("xtrack.test")
    logger.info("test.console", token=SECRET, note=f"Bearer {BEARER}")
    try:
        raise ValueError(f"key=sk-ant-{SECRET}-0123456789")
    except ValueError:
        logger.exception("test.console_failed")
    text = log_output.getvalue()
    assert "test.console" in text and "ValueError" in text
    assert SECRET not in text and BEARER not in text


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("password", True),
        ("new_password", True),
        ("token", True),
        ("x_bearer_token", True),
        ("Authorization", True),
        ("x-api-key", True),
        ("llm_api_key", True),
        ("cookie", True),
        ("client_secret", True),
        ("input_tokens", False),
        ("token_id", False),
        ("username", False),
        ("execution_id", False),
    ],
)
def test_secret_keys(key: str, secret: bool) -> None:
    assert is_secret_key(key) is secret


def test_secret_values_in_text() -> None:
    text = (
        f"Bearer {BEARER} xt_{'a' * 43} xf_{'b' * 43} sk-proj-{'c' * 30} "
        f"smtp://me:{SECRET}@mail.example:587 /feeds?token={SECRET}&page=2"
    )
    cleaned = redact_text(text)
    assert SECRET not in cleaned and BEARER not in cleaned
    assert "a" * 43 not in cleaned and "b" * 43 not in cleaned and "c" * 30 not in cleaned
    assert "smtp://me:[redacted]@mail.example:587" in cleaned and "page=2" in cleaned
    assert redact_text("3 tokens, a basic summary") == "3 tokens, a basic summary"


def test_uvicorns_ansi_duplicate_of_the_message_is_dropped(log_output: io.StringIO) -> None:
    setup_logging("console", "INFO", stream=log_output)
    # A logger of its own: uvicorn.error itself may carry uvicorn's config from another test.
    logging.getLogger("tests.uvicorn_like").info(
        "Started server process [%d]", 42, extra={"color_message": "Started \x1b[36m%d\x1b[0m"}
    )
    text = log_output.getvalue()
    assert "Started server process [42]" in text
    assert "color_message" not in text and "\x1b[36m" not in text
