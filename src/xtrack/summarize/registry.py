"""Which summarizer a run uses: :class:`Summarizers` belongs to a process (the runtime opens and
closes it) and keeps one LLM summarizer (one pooled HTTP client) for its settings."""

from __future__ import annotations

from xtrack.config import Settings
from xtrack.summarize.anthropic import AnthropicSummarizer
from xtrack.summarize.base import Summarizer
from xtrack.summarize.extractive import ExtractiveSummarizer
from xtrack.summarize.llm import LLMSummarizer
from xtrack.summarize.openai import OpenAISummarizer

EXTRACTIVE = ExtractiveSummarizer()
_LLM_CLASSES: dict[str, type[LLMSummarizer]] = {"openai": OpenAISummarizer, "anthropic": AnthropicSummarizer}


class Summarizers:
    """The process's summarizers for ``settings``: the LLM one is created on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._llm: LLMSummarizer | None = None

    def for_posts(self, post_count: int) -> Summarizer:
        """The extractive summarizer when configured or when the run has fewer than
        XTRACK_LLM_MIN_POSTS posts (they cost nothing); otherwise the configured LLM summarizer."""
        if self.settings.summarizer == "extractive" or post_count < self.settings.llm_min_posts:
            return EXTRACTIVE
        if self._llm is None:
            self._llm = _LLM_CLASSES[self.settings.summarizer](self.settings)
        return self._llm

    async def aclose(self) -> None:
        """Close the LLM summarizer's HTTP client (at shutdown); a later run opens a new one."""
        llm, self._llm = self._llm, None
        if llm is not None:
            await llm.aclose()
