"""Anthropic's Messages API: ``POST {XTRACK_LLM_URL}/v1/messages`` with ``x-api-key`` and
``anthropic-version``; the system prompt is a top-level field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from xtrack.summarize.base import SummarizeError
from xtrack.summarize.llm import Completion, LLMSummarizer
from xtrack.summarize.pricing import Usage
from xtrack.summarize.prompts import Prompt

ANTHROPIC_VERSION = "2023-06-01"


class AnthropicSummarizer(LLMSummarizer):
    name = "anthropic"
    provider = "Anthropic"
    default_url = "https://api.anthropic.com"
    default_model = "claude-haiku-4-5"

    def endpoint(self) -> str:
        return f"{self.base_url}/v1/messages"

    def headers(self) -> dict[str, str]:
        return {
            "x-api-key": self._api_key or "",
            "anthropic-version": ANTHROPIC_VERSION,
            "Accept": "application/json",
        }

    def payload(self, prompt: Prompt, *, max_tokens: int) -> dict[str, Any]:
        return {
            "model": self.model,
            "max_tokens": max_tokens,
            "temperature": 0.2,
            "system": prompt.system,
            "messages": [{"role": "user", "content": prompt.user}],
        }

    def parse(self, data: Mapping[str, Any], prompt: Prompt) -> Completion:
        if data.get("type") == "error":
            raise SummarizeError(
                f"{self.provider} answered with an error: {self._redact(str(data.get('error')))[:200]}"
            )
        stop = data.get("stop_reason")
        blocks = data["content"]
        if not isinstance(blocks, list):
            raise TypeError("content is not a list of blocks")
        text = "".join(
            str(block.get("text", ""))
            for block in blocks
            if isinstance(block, dict) and block.get("type") == "text"
        )
        if stop == "refusal":
            raise SummarizeError("the model refused to summarize these posts", retryable=False)
        usage_data = data.get("usage")
        if isinstance(usage_data, Mapping) and "input_tokens" in usage_data:
            cache_read = int(usage_data.get("cache_read_input_tokens") or 0)
            cache_write = int(usage_data.get("cache_creation_input_tokens") or 0)
            usage = Usage(
                # Anthropic's input_tokens excludes cache reads and writes; ours counts every input token.
                input_tokens=int(usage_data.get("input_tokens") or 0) + cache_read + cache_write,
                output_tokens=int(usage_data.get("output_tokens") or 0),
                cached_input_tokens=cache_read,
            )
        else:
            usage = self.estimated_usage(prompt, text)
        return Completion(text, usage, stop)
