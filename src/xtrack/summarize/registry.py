"""Which summarizer a run uses, and one cached instance (one pooled HTTP client) per process."""

from __future__ import annotations

import hashlib

from xtrack.config import Settings
from xtrack.summarize.anthropic import AnthropicSummarizer
from xtrack.summarize.base import Summarizer
from xtrack.summarize.extractive import ExtractiveSummarizer
from xtrack.summarize.llm import LLMSummarizer
from xtrack.summarize.openai import OpenAISummarizer

MIN_POSTS_FOR_LLM = 5  # smaller runs are summarized extractively: they cost nothing

_EXTRACTIVE = ExtractiveSummarizer()
_LLM_CLASSES: dict[str, type[LLMSummarizer]] = {"openai": OpenAISummarizer, "anthropic": AnthropicSummarizer}
_instances: dict[tuple[object, ...], LLMSummarizer] = {}


def _cache_key(settings: Settings) -> tuple[object, ...]:
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else ""
    return (
        settings.summarizer,
        settings.llm_url,
        settings.llm_model,
        hashlib.sha256(key.encode()).hexdigest(),
        settings.llm_timeout_seconds,
        settings.llm_max_retries,
        settings.llm_retry_base_seconds,
        settings.llm_max_retry_wait_seconds,
        settings.llm_context_tokens,
        settings.llm_max_output_tokens,
        settings.llm_prices,
    )


def get_summarizer(settings: Settings, *, post_count: int) -> Summarizer:
    """The extractive summarizer when configured or when the run has fewer than 5 posts;
    otherwise the configured LLM summarizer, created once per process and settings."""
    if settings.summarizer == "extractive" or post_count < MIN_POSTS_FOR_LLM:
        return _EXTRACTIVE
    key = _cache_key(settings)
    summarizer = _instances.get(key)
    if summarizer is None:
        summarizer = _instances[key] = _LLM_CLASSES[settings.summarizer](settings)
    return summarizer


async def close_summarizers() -> None:
    """Close the cached summarizers' HTTP clients (at shutdown, and between tests)."""
    instances = list(_instances.values())
    _instances.clear()
    for summarizer in instances:
        await summarizer.aclose()
