"""What the OpenAI-compatible and Anthropic summarizers share: one pooled HTTP client, retries,
map-reduce for long inputs, citation grounding, usage and cost. Subclasses only say how to build a
request and read a reply.

Errors (all ``SummarizeError``, raised, never returned as content):

- 429: waits for Retry-After (or back-off) and retries; if the provider asks for a wait longer
  than ``llm_max_retry_wait_seconds``, raises at once with ``retry_after`` set so the engine can
  reschedule the execution instead of holding a worker.
- 5xx, 408, timeouts and connection errors: retried with ``backoff_delay`` up to
  ``llm_max_retries`` times, then raised (retryable).
- 401/403: bad credentials, raised at once, not retryable. Other 4xx: raised, not retryable.
- A reply that is not the expected JSON: raised (retryable). An empty answer: raised (retryable).
  A refusal or content filter: raised (not retryable).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import re
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from xtrack import metrics
from xtrack.backoff import backoff_delay, retry_after_seconds
from xtrack.config import Settings
from xtrack.observability import get_logger
from xtrack.sources.base import Post
from xtrack.sources.http import pooled_clients
from xtrack.summarize.base import SummarizeError, SummaryRequest, SummaryResult
from xtrack.summarize.citations import ground_citations
from xtrack.summarize.extractive import summarize_extractive
from xtrack.summarize.pricing import Usage, compute_cost, find_price, price_table
from xtrack.summarize.prompts import (
    Prompt,
    build_combine_prompt,
    build_prompt,
    chunk_posts,
    chunk_texts,
    estimate_tokens,
    input_budget,
)

logger = get_logger("xtrack.summarize")

Sleep = Callable[[float], Awaitable[None]]
MAX_COMBINE_ROUNDS = 6


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    usage: Usage
    stop_reason: str | None = None


_LINK = re.compile(r"(?<!\\)\[((?:\\.|[^\]\\])*)\]\([^)]*\)")
_FOOTNOTE = re.compile(r"^\\\[\d+\\\]$")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!<>&|~])")


def headline_of(markdown: str) -> str:
    """The first non-empty line as plain text (what lists, subjects and feed titles show):
    no heading or bullet marks, no citation links, no emphasis or escapes."""
    for line in markdown.splitlines():
        text = re.sub(r"^\s*(?:#+|[-*+]|\d+[.)])\s+", "", line.strip() + " ").strip()
        text = _LINK.sub(lambda m: "" if _FOOTNOTE.match(m.group(1)) else m.group(1), text)
        text = re.sub(r"(\*\*|__|(?<!\\)[*_`])", "", text)
        text = re.sub(r"\s{2,}", " ", _ESCAPE.sub(r"\1", text))
        text = re.sub(r"\s+([.,;:!?])", r"\1", text).strip().rstrip(":")
        if text:
            return text[:300]
    return ""


def strip_reasoning(text: str) -> str:
    """Drop a leading ``<think>…</think>`` block that some local reasoning models put in the answer."""
    stripped = text.lstrip()
    if stripped.startswith("<think>"):
        end = stripped.find("</think>")
        return stripped[end + len("</think>") :] if end >= 0 else ""
    return text


class LLMSummarizer(ABC):
    """The shared engine of the HTTP summarizers (see the module docstring for error behaviour)."""

    name: str
    provider: str  # for messages: "OpenAI-compatible server", "Anthropic"
    default_url: str
    default_model: str

    def __init__(
        self,
        settings: Settings,
        *,
        http: httpx.AsyncClient | None = None,
        sleep: Sleep = asyncio.sleep,
        rand: random.Random | None = None,
        map_concurrency: int = 4,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.base_url = (settings.llm_url or self.default_url).rstrip("/")
        self.model = settings.llm_model or self.default_model
        self._api_key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        self.timeout = settings.llm_timeout_seconds
        self.max_retries = settings.llm_max_retries
        self.retry_base = settings.llm_retry_base_seconds
        self.max_retry_wait = settings.llm_max_retry_wait_seconds
        self.max_output_tokens = settings.llm_max_output_tokens
        self.context_tokens = settings.llm_context_tokens
        self.price = find_price(self.model, price_table(settings.llm_prices))
        self.map_concurrency = max(1, map_concurrency)
        self._sleep = sleep
        self._rand = rand
        self._clock = clock
        self._own_http = http is None
        self._http = http
        self._http_loop: asyncio.AbstractEventLoop | None = None
        self.max_connections = settings.llm_max_connections
        self._pool: list[httpx.AsyncClient] = []
        self._next_client: Iterator[httpx.AsyncClient] = iter(())
        if self.price is None:
            logger.warning("summarize.no_price", model=self.model, summarizer=self.name)

    # -- what a provider defines -------------------------------------------------------------

    @abstractmethod
    def endpoint(self) -> str: ...

    @abstractmethod
    def headers(self) -> dict[str, str]: ...

    @abstractmethod
    def payload(self, prompt: Prompt, *, max_tokens: int) -> dict[str, Any]: ...

    @abstractmethod
    def parse(self, data: Mapping[str, Any], prompt: Prompt) -> Completion:
        """Read a 2xx JSON reply; raise SummarizeError for refusals and empty answers."""

    # -- the shared part ---------------------------------------------------------------------

    def _client(self) -> httpx.AsyncClient:
        """One pool per event loop (a Celery worker may run tasks on fresh loops), sized to the runs
        in flight (XTRACK_LLM_MAX_CONNECTIONS) and sharded as the sources' pools are; at 20
        connections a burst of 500 runs queued here for 25 s behind a 1-second LLM."""
        if not self._own_http:
            assert self._http is not None
            return self._http
        loop = asyncio.get_running_loop()
        if not self._pool or self._http_loop is not loop:
            self._pool = pooled_clients(
                self.max_connections, timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0))
            )
            self._next_client = itertools.cycle(self._pool)
            self._http_loop = loop
        return next(self._next_client)

    async def aclose(self) -> None:
        if self._own_http:
            pool, self._pool = self._pool, []
            for http in pool:
                with contextlib.suppress(RuntimeError):  # its event loop is gone: nothing to close cleanly
                    await http.aclose()

    def _redact(self, text: str) -> str:
        if self._api_key and len(self._api_key) >= 4:
            text = text.replace(self._api_key, "[redacted]")
        return text

    def _error_detail(self, response: httpx.Response) -> str:
        try:
            data = response.json()
        except ValueError:
            return ""
        error = data.get("error") if isinstance(data, dict) else None
        message = (
            error.get("message") if isinstance(error, dict) else error if isinstance(error, str) else None
        )
        return f": {self._redact(str(message))[:200]}" if message else ""

    async def complete(self, prompt: Prompt, *, max_tokens: int | None = None) -> Completion:
        """One call, retried as the module docstring says."""
        url = self.endpoint()
        body = self.payload(prompt, max_tokens=max_tokens or self.max_output_tokens)
        attempts = self.max_retries + 1
        for attempt in range(1, attempts + 1):
            try:
                response = await self._client().post(url, json=body, headers=self.headers())
            except httpx.TimeoutException:
                error = SummarizeError(f"{self.provider} did not answer within {self.timeout:g} s")
            except httpx.HTTPError as exc:
                error = SummarizeError(f"{self.provider} unreachable ({type(exc).__name__})")
            else:
                status = response.status_code
                if 200 <= status < 300:
                    completion = self._read(response, prompt)
                    self._count(completion.usage)
                    return completion
                detail = self._error_detail(response)
                if status in (401, 403):
                    raise SummarizeError(
                        f"{self.provider} rejected the credentials ({status}){detail}; "
                        "check XTRACK_LLM_API_KEY",
                        retryable=False,
                        status_code=status,
                    )
                wait = self._retry_after(response)
                if status == 429:
                    error = SummarizeError(
                        f"{self.provider} rate limit (429){detail}", retry_after=wait, status_code=status
                    )
                    if wait is not None and wait > self.max_retry_wait:
                        raise error  # too long to hold a worker: the engine reschedules the run
                elif status >= 500 or status == 408:
                    error = SummarizeError(
                        f"{self.provider} error ({status}){detail}", retry_after=wait, status_code=status
                    )
                else:
                    raise SummarizeError(
                        f"{self.provider} refused the request ({status}){detail}",
                        retryable=False,
                        status_code=status,
                    )
            if attempt == attempts:
                if attempts > 1:
                    error.message = f"{error.message} (after {attempts} attempts)"
                    error.args = (error.message,)
                raise error
            delay = (
                min(error.retry_after, self.max_retry_wait)
                if error.retry_after is not None
                else backoff_delay(
                    attempt,
                    base=self.retry_base,
                    cap=max(self.retry_base, self.max_retry_wait),
                    rand=self._rand,
                )
            )
            logger.info(
                "summarize.retry",
                summarizer=self.name,
                attempt=attempt,
                delay_seconds=round(delay, 3),
                status=error.status_code,
                reason=error.message,
            )
            await self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _count(self, usage: Usage) -> None:
        """Every billed call's tokens and cost, in the Prometheus counters."""
        metrics.llm_usage(
            summarizer=self.name,
            model=self.model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost=compute_cost(usage, self.price),
        )

    def _retry_after(self, response: httpx.Response) -> float | None:
        millis = response.headers.get("retry-after-ms")
        if millis:
            try:
                return max(0.0, float(millis) / 1000)
            except ValueError:
                pass
        return retry_after_seconds(response.headers.get("retry-after"), now=self._clock())

    def _read(self, response: httpx.Response, prompt: Prompt) -> Completion:
        try:
            data = response.json()
        except ValueError:
            raise SummarizeError(
                f"{self.provider} sent a reply that is not JSON", status_code=response.status_code
            ) from None
        if not isinstance(data, dict):
            raise SummarizeError(f"{self.provider} sent an unexpected reply (not a JSON object)")
        try:
            completion = self.parse(data, prompt)
        except SummarizeError:
            raise
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise SummarizeError(
                f"{self.provider} sent an unexpected reply ({type(exc).__name__}: {exc})"[:300]
            ) from None
        text = strip_reasoning(completion.text).strip()
        if not text:
            raise SummarizeError(
                f"{self.provider} returned an empty answer (stop reason: {completion.stop_reason or 'none'})"
            )
        if completion.stop_reason in ("length", "max_tokens"):
            logger.warning("summarize.truncated", summarizer=self.name, model=self.model)
        return Completion(text, completion.usage, completion.stop_reason)

    def estimated_usage(self, prompt: Prompt, text: str) -> Usage:
        """For servers that report no usage (some local ones): the estimates, so cost is not 0."""
        return Usage(prompt.estimated_tokens, estimate_tokens(text))

    async def summarize(self, request: SummaryRequest) -> SummaryResult:
        if not request.posts:
            return summarize_extractive(request)
        budget = input_budget(self.context_tokens, self.max_output_tokens)
        prompt = build_prompt(request)
        if prompt.estimated_tokens <= budget:
            completion = await self.complete(prompt)
            text, usage, calls = completion.text, completion.usage, 1
        else:
            text, usage, calls = await self._map_reduce(request, budget)
        grounded = ground_citations(text, request.posts)
        if not grounded.markdown.strip():
            raise SummarizeError(
                f"{self.provider} answer had nothing left once unsupported citations were removed"
            )
        if grounded.removed:
            logger.info("summarize.citations_removed", summarizer=self.name, removed=len(grounded.removed))
        return SummaryResult(
            content=grounded.markdown,
            headline=headline_of(grounded.markdown),
            model=self.model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost=compute_cost(usage, self.price),
            cited_post_ids=grounded.cited_post_ids,
            cached_input_tokens=usage.cached_input_tokens,
            llm_calls=calls,
        )

    async def _map_reduce(self, request: SummaryRequest, budget: int) -> tuple[str, Usage, int]:
        """Summarize chunks that fit the budget (every post in exactly one), then merge the partial
        summaries, in rounds if even they do not fit one call."""
        overhead = build_prompt(request, posts=[], part=(1, 1)).estimated_tokens
        chunks = chunk_posts(request.posts, budget_tokens=max(1, budget - overhead), request=request)
        logger.info(
            "summarize.map_reduce", summarizer=self.name, posts=len(request.posts), chunks=len(chunks)
        )
        if len(chunks) == 1:  # one post alone is over the budget: send it and let the provider judge
            completion = await self.complete(build_prompt(request))
            return completion.text, completion.usage, 1

        async def partial(index: int, chunk: Sequence[Post]) -> Completion:
            completion = await self.complete(build_prompt(request, posts=chunk, part=(index, len(chunks))))
            grounded = ground_citations(completion.text, chunk, as_links=False)
            return Completion(grounded.markdown, completion.usage, completion.stop_reason)

        results = await self._gather([partial(i, chunk) for i, chunk in enumerate(chunks, start=1)])
        usage = sum((result.usage for result in results), Usage())
        calls = len(results)
        partials = [result.text for result in results if result.text.strip()]
        if not partials:
            raise SummarizeError(f"{self.provider} cited no real post in any part of the input")

        combine_overhead = build_combine_prompt(request, []).estimated_tokens
        for _round in range(MAX_COMBINE_ROUNDS):
            if build_combine_prompt(request, partials).estimated_tokens <= budget or len(partials) <= 1:
                break
            groups = chunk_texts(partials, budget_tokens=max(1, budget - combine_overhead))
            if len(groups) >= len(partials):
                break  # every partial is too big on its own: merging cannot shrink them further

            async def merge(group: Sequence[str]) -> Completion:
                completion = await self.complete(build_combine_prompt(request, group, final=False))
                grounded = ground_citations(completion.text, request.posts, as_links=False)
                return Completion(grounded.markdown, completion.usage, completion.stop_reason)

            merged = await self._gather([merge(group) for group in groups])
            usage = sum((result.usage for result in merged), usage)
            calls += len(merged)
            partials = [result.text for result in merged if result.text.strip()]

        final = await self.complete(build_combine_prompt(request, partials))
        return final.text, usage + final.usage, calls + 1

    async def _gather(self, calls: Sequence[Awaitable[Completion]]) -> list[Completion]:
        """Run calls at most ``map_concurrency`` at a time; the first failure cancels the rest."""
        semaphore = asyncio.Semaphore(self.map_concurrency)

        async def limited(call: Awaitable[Completion]) -> Completion:
            async with semaphore:
                return await call

        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(limited(call)) for call in calls]
        except* SummarizeError as failures:
            raise failures.exceptions[0] from None
        return [task.result() for task in tasks]
