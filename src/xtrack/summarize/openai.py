"""Any OpenAI-compatible Chat Completions server: OpenAI, Ollama, vLLM, OpenRouter, Gemini's
OpenAI endpoint. ``POST {XTRACK_LLM_URL}/chat/completions`` with a bearer key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from xtrack.summarize.base import SummarizeError
from xtrack.summarize.llm import Completion, LLMSummarizer
from xtrack.summarize.pricing import Usage
from xtrack.summarize.prompts import Prompt

# OpenAI's reasoning models take max_completion_tokens and no temperature.
_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")


class OpenAISummarizer(LLMSummarizer):
    name = "openai"
    provider = "OpenAI-compatible server"
    default_url = "https://api.openai.com/v1"
    default_model = "gpt-4o-mini"

    def endpoint(self) -> str:
        return f"{self.base_url}/chat/completions"

    def headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def payload(self, prompt: Prompt, *, max_tokens: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": prompt.system},
                {"role": "user", "content": prompt.user},
            ],
        }
        if self.model.rsplit("/", 1)[-1].startswith(_REASONING_PREFIXES):
            body["max_completion_tokens"] = max_tokens
        else:
            body["max_tokens"] = max_tokens
            body["temperature"] = 0.2
        return body

    def parse(self, data: Mapping[str, Any], prompt: Prompt) -> Completion:
        if "error" in data and "choices" not in data:
            raise SummarizeError(
                f"{self.provider} answered with an error: {self._redact(str(data['error']))[:200]}"
            )
        choice = data["choices"][0]
        message = choice["message"]
        finish = choice.get("finish_reason")
        refusal = message.get("refusal")
        if refusal:
            raise SummarizeError(f"the model refused: {str(refusal)[:200]}", retryable=False)
        if finish == "content_filter":
            raise SummarizeError(f"{self.provider} withheld the answer (content filter)", retryable=False)
        content = message.get("content")
        if isinstance(content, list):  # some servers send content parts
            content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
        if content is not None and not isinstance(content, str):
            raise TypeError("message.content is not text")
        text = content or ""
        usage_data = data.get("usage")
        if isinstance(usage_data, Mapping) and "prompt_tokens" in usage_data:
            details = usage_data.get("prompt_tokens_details")
            cached = details.get("cached_tokens") if isinstance(details, Mapping) else 0
            usage = Usage(
                input_tokens=int(usage_data.get("prompt_tokens") or 0),
                output_tokens=int(usage_data.get("completion_tokens") or 0),
                cached_input_tokens=int(cached or 0),
            )
        else:
            usage = self.estimated_usage(prompt, text)
        return Completion(text, usage, finish)
