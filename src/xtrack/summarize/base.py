"""What every summarizer speaks: request, result, protocol and errors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from xtrack.sources.base import Post


@dataclass(frozen=True, slots=True)
class SummaryRequest:
    username: str
    posts: Sequence[Post]
    topics: Sequence[str]
    language: str = "en"
    # A briefing: the accounts it covers, and the followed accounts that reposted each kept post
    # (post id -> usernames), the reposts themselves folded into it (``summarize.briefing``).
    accounts: Sequence[str] = ()
    reposted_by: Mapping[str, Sequence[str]] = field(default_factory=dict)

    @property
    def is_briefing(self) -> bool:
        return len(self.accounts) > 1


@dataclass(frozen=True, slots=True)
class SummaryResult:
    content: str  # Markdown: a headline line then key points, each linking a post
    headline: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    cited_post_ids: list[str] = field(default_factory=list)
    cached_input_tokens: int = 0  # part of input_tokens the provider served from its prompt cache
    llm_calls: int = 0  # requests made (more than one when a long input was map-reduced)


class SummarizeError(Exception):
    """An LLM failure: the execution fails with error_kind ``llm``; never stored as content."""

    kind = "llm"

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = True,
        retry_after: float | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after  # seconds the provider asked us to wait (Retry-After), if any
        self.status_code = status_code  # the provider's HTTP status, None for timeouts and bad replies


class Summarizer(Protocol):
    name: str

    async def summarize(self, request: SummaryRequest) -> SummaryResult: ...

    async def aclose(self) -> None: ...
