from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.fakes.server import serve_app
from tests.summarize.fakes import FakeLLM, anthropic_reply, openai_reply
from xtrack.config import Settings
from xtrack.sources.base import Post

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
API_KEY = "sk-test-0123456789abcdef"


def make_post(
    number: int,
    text: str,
    *,
    username: str = "alice",
    minutes_ago: int | None = None,
    likes: int = 0,
    reposts: int = 0,
    replies: int = 0,
    **flags: Any,
) -> Post:
    """A post with a snowflake-like id; higher numbers are newer unless ``minutes_ago`` says otherwise."""
    external_id = str(1_790_000_000_000_000_000 + number)
    age = minutes_ago if minutes_ago is not None else 10_000 - number
    return Post(
        external_id=external_id,
        author_username=username,
        text=text,
        created_at=NOW - timedelta(minutes=age),
        url=f"https://x.com/{username}/status/{external_id}",
        metrics={"likes": likes, "reposts": reposts, "replies": replies},
        **flags,
    )


def llm_settings(kind: str, base_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "summarizer": kind,
        "llm_url": base_url,
        "llm_api_key": API_KEY,
        "llm_model": "gpt-4o-mini" if kind == "openai" else "claude-haiku-4-5",
        "llm_timeout_seconds": 2.0,
        "llm_max_retries": 2,
        "llm_retry_base_seconds": 0.01,
        "llm_max_retry_wait_seconds": 30.0,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="module")
def openai_server() -> Iterator[tuple[FakeLLM, str]]:
    fake = FakeLLM("/v1/chat/completions", openai_reply)
    with serve_app(fake.app) as base_url:
        yield fake, f"{base_url}/v1"


@pytest.fixture(scope="module")
def anthropic_server() -> Iterator[tuple[FakeLLM, str]]:
    fake = FakeLLM("/v1/messages", anthropic_reply)
    with serve_app(fake.app) as base_url:
        yield fake, base_url
