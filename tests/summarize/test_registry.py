from __future__ import annotations

import pytest
from pydantic import ValidationError

from xtrack.config import Settings
from xtrack.summarize.anthropic import AnthropicSummarizer
from xtrack.summarize.extractive import ExtractiveSummarizer
from xtrack.summarize.openai import OpenAISummarizer
from xtrack.summarize.registry import Summarizers


async def test_extractive_by_default_and_for_small_runs() -> None:
    assert isinstance(Summarizers(Settings(summarizer="extractive")).for_posts(500), ExtractiveSummarizer)
    openai = Summarizers(Settings(summarizer="openai", llm_api_key="sk-x"))
    assert isinstance(openai.for_posts(2), ExtractiveSummarizer)  # XTRACK_LLM_MIN_POSTS is 3
    assert isinstance(openai.for_posts(0), ExtractiveSummarizer)
    assert isinstance(openai.for_posts(3), OpenAISummarizer)
    stricter = Summarizers(Settings(summarizer="openai", llm_api_key="sk-x", llm_min_posts=5))
    assert isinstance(stricter.for_posts(4), ExtractiveSummarizer)


async def test_the_llm_summarizer_is_made_once_per_process_and_closed() -> None:
    openai = Summarizers(Settings(summarizer="openai", llm_api_key="sk-x", llm_model="gpt-4o"))
    first = openai.for_posts(5)
    assert isinstance(first, OpenAISummarizer) and first.model == "gpt-4o"
    assert first.base_url == "https://api.openai.com/v1"
    assert openai.for_posts(9) is first
    anthropic = Summarizers(Settings(summarizer="anthropic", llm_api_key="k")).for_posts(50)
    assert isinstance(anthropic, AnthropicSummarizer) and anthropic.model == "claude-haiku-4-5"
    assert anthropic.base_url == "https://api.anthropic.com"

    await openai.aclose()
    assert openai.for_posts(5) is not first
    await openai.aclose()


def test_configuration_mistakes_fail_with_one_line_naming_the_variable() -> None:
    with pytest.raises(ValidationError, match="XTRACK_LLM_API_KEY is required"):
        Settings(summarizer="anthropic")
    with pytest.raises(ValidationError, match="XTRACK_LLM_API_KEY is required"):
        Settings(summarizer="openai")
    assert (
        Settings(summarizer="openai", llm_url="http://127.0.0.1:11434/v1/").llm_url
        == "http://127.0.0.1:11434/v1"
    )
    with pytest.raises(ValidationError, match="must start with http"):
        Settings(llm_url="ftp://x")
