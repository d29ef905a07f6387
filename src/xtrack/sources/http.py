"""The HTTP plumbing every networked source shares: one pooled client, timeouts on every call,
retries with back-off and jitter for transient failures, and the upstream's rate-limit headers
turned into a "no request before T" guard."""

from __future__ import annotations

import asyncio
import itertools
import math
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from xtrack import __version__, metrics
from xtrack.backoff import backoff_delay, retry_after_seconds
from xtrack.db import utcnow
from xtrack.observability import get_logger
from xtrack.sources.base import (
    BadCredentials,
    MalformedResponse,
    QuotaExhausted,
    RequestRejected,
    SourceRateLimited,
    TransientSourceError,
)

logger = get_logger(__name__)

Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]

# Statuses worth another try: the upstream (or something in front of it) failed, not the request.
RETRYABLE_STATUSES = frozenset({408, 500, 502, 503, 504, 520, 521, 522, 523, 524})
# Connections per pooled client (``pooled_clients``: bigger pools are split into shards). httpcore
# checks every connection of a pool (a poll() of each idle socket, and a count of the idle ones per
# connection) on every request it assigns: 1,000 requests over keep-alive connections took 3.0-3.3 s
# of CPU in shards of 32, 1.2-1.5 s in shards of 4-8 and 0.9-1.2 s in shards of 1-4 (this VM).
SHARD_CONNECTIONS = 4
# Without a reset header a 429 blocks the source this long.
DEFAULT_RATE_LIMIT_SECONDS = 60.0
# A 402 (credits used up) says nothing about when credits come back: the source pauses this long,
# unless an operator resumes it sooner after topping up (``xtrack sources resume``).
CREDITS_PAUSE = timedelta(hours=24)
# The endpoint bucket of calls that do not name one (the source's main listing endpoint).
PRIMARY_BUCKET = "primary"


def user_agent(base_url: str) -> str:
    return f"XTrack/{__version__} (+{base_url})"


@dataclass(frozen=True, slots=True)
class RateLimit:
    """What one response said about the caller's budget."""

    remaining: int | None
    reset_at: datetime | None


@dataclass(frozen=True, slots=True)
class Reply:
    response: httpx.Response
    attempts: int  # HTTP requests actually sent for this call, retries included
    rate_limit: RateLimit

    def json(self) -> Any:
        try:
            return self.response.json()
        except ValueError as exc:
            raise MalformedResponse(
                f"{self.response.request.url.path}: response is not JSON ({exc.__class__.__name__})"
            ) from None


def parse_rate_limit(headers: Mapping[str, str], *, now: datetime) -> RateLimit:
    """``x-rate-limit-remaining`` / ``x-rate-limit-reset`` (X: epoch seconds), the IETF
    ``ratelimit-*`` pair (reset in seconds from now, or epoch seconds as Bluesky sends it) or
    Mastodon's ``x-ratelimit-remaining`` / ``x-ratelimit-reset`` (an ISO 8601 time)."""
    remaining = _int_header(headers, "x-rate-limit-remaining", "ratelimit-remaining", "x-ratelimit-remaining")
    reset_raw = _int_header(headers, "x-rate-limit-reset", "ratelimit-reset")
    reset_at: datetime | None = _iso_header(headers, "x-ratelimit-reset")
    if reset_raw is not None:
        # Epoch seconds (X) or, when small, a delay in seconds (draft IETF header).
        if reset_raw > 1_000_000_000:
            reset_at = datetime.fromtimestamp(reset_raw, tz=UTC)
        else:
            reset_at = now + timedelta(seconds=reset_raw)
    return RateLimit(remaining=remaining, reset_at=reset_at)


def next_month(now: datetime) -> datetime:
    """The first moment of the next calendar month (UTC): when a monthly usage cap resets."""
    first = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return (first + timedelta(days=32)).replace(day=1)


def usage_capped(response: httpx.Response) -> bool:
    """X's monthly cap: a 429 whose problem ``type`` is ``…/problems/usage-capped`` (title
    ``UsageCapExceeded``), unlike the per-window 429 (``…/problems/rate-limit-exceeded`` or none)."""
    try:
        body = response.json()
    except ValueError:
        return False
    problems = [body, *(body.get("errors") or [])] if isinstance(body, Mapping) else []
    for problem in problems:
        if not isinstance(problem, Mapping):
            continue
        kind = str(problem.get("type", ""))
        if kind.endswith("/usage-capped") or problem.get("title") == "UsageCapExceeded":
            return True
    return False


def quota_error(label: str, response: httpx.Response, *, now: datetime) -> QuotaExhausted | None:
    """The QuotaExhausted a response stands for: 402 (credits used up) or X's usage-cap 429."""
    if response.status_code == 402:
        return QuotaExhausted(f"{label} credits are used up", reset_at=now + CREDITS_PAUSE)
    if response.status_code == 429 and usage_capped(response):
        reset = next_month(now)
        return QuotaExhausted(f"{label} monthly cap reached, resets on {reset:%Y-%m-%d}", reset_at=reset)
    return None


def _iso_header(headers: Mapping[str, str], name: str) -> datetime | None:
    value = headers.get(name)
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _int_header(headers: Mapping[str, str], *names: str) -> int | None:
    for name in names:
        value = headers.get(name)
        if value is None:
            continue
        try:
            return int(float(value.strip()))
        except ValueError:
            return None
    return None


def pooled_clients(max_connections: int, **options: Any) -> list[httpx.AsyncClient]:
    """``max_connections`` (sized to the runs a process holds in flight) split over clients of at
    most SHARD_CONNECTIONS each, to be used in turn: httpcore's pool does O(connections) work on
    every request event, so one pool of 500 connections spent ~half of a busy worker's CPU on
    bookkeeping. The LLM summarizers pool the same way."""
    shards = max(1, math.ceil(max_connections / SHARD_CONNECTIONS))
    per_shard = math.ceil(max_connections / shards)
    # One TLS context for every shard (loading the CA bundle costs ~30 ms each time).
    tls = httpx.create_ssl_context()
    limits = httpx.Limits(
        max_connections=per_shard, max_keepalive_connections=min(per_shard, max(20, per_shard // 2))
    )
    return [httpx.AsyncClient(limits=limits, verify=tls, **options) for _ in range(shards)]


class SourceHttp:
    """One pool of HTTP connections per source (``httpx.AsyncClient`` shards, used in turn).

    ``get`` returns 2xx, 304 and 404 replies to the caller (404 means different things to
    different sources) and turns everything else into the source error taxonomy: 402 and X's
    usage-cap 429 -> QuotaExhausted (never retried), 429 -> SourceRateLimited(reset_at) for
    that call's ``bucket`` only, 401/403 -> BadCredentials (or, with ``passthrough_statuses``, the
    reply: a feed bridge's 403 page says what is wrong), 408/5xx/timeouts/connection errors ->
    retried with ``backoff_delay`` (at least the upstream's Retry-After) and then
    TransientSourceError, any other 4xx -> RequestRejected."""

    def __init__(
        self,
        *,
        source_name: str,
        base_url: str,
        label: str | None = None,
        passthrough_statuses: frozenset[int] = frozenset(),
        public_url: str,
        timeout: float,
        max_retries: int,
        headers: Mapping[str, str] | None = None,
        retry_base_seconds: float = 1.0,
        retry_cap_seconds: float = 30.0,
        clock: Clock = utcnow,
        sleep: Sleep = asyncio.sleep,
        rand: random.Random | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 50,
    ) -> None:
        self.source_name = source_name
        self.label = label or source_name
        self.passthrough_statuses = passthrough_statuses
        self.max_retries = max_retries
        self.retry_base_seconds = retry_base_seconds
        self.retry_cap_seconds = retry_cap_seconds
        self.clock = clock
        self._sleep = sleep
        self._rand = rand
        # Set when the upstream said a bucket's budget is spent: no request of that bucket leaves
        # before this time. A used-up quota is not kept here but in the shared ``source_limits``
        # row (posts.limits), where an operator can lift it for every process at once.
        self.blocked_until: dict[str, datetime] = {}
        self.clients = pooled_clients(
            max_connections,
            base_url=base_url,
            timeout=httpx.Timeout(timeout),
            headers={"User-Agent": user_agent(public_url), "Accept": "application/json", **(headers or {})},
            transport=transport,
        )
        self._next_client = itertools.cycle(self.clients)

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()

    def _check_budget(self, now: datetime, bucket: str) -> None:
        blocked = self.blocked_until.get(bucket)
        if blocked is not None and blocked > now:
            metrics.rate_limit_wait(self.source_name, "budget")
            raise SourceRateLimited(
                f"{self.source_name} is rate limited until {blocked.isoformat()}",
                reset_at=blocked,
                bucket=bucket,
            )

    def _block(self, until: datetime, bucket: str) -> None:
        blocked = self.blocked_until.get(bucket)
        if blocked is None or until > blocked:
            self.blocked_until[bucket] = until

    async def get(
        self,
        url: str,
        *,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        bucket: str = PRIMARY_BUCKET,
    ) -> Reply:
        attempts = 0
        while True:
            now = self.clock()
            self._check_budget(now, bucket)
            attempts += 1
            retry_after: float | None = None
            try:
                response = await next(self._next_client).get(url, params=params, headers=headers)
            except httpx.TimeoutException as exc:
                problem = f"timed out ({exc.__class__.__name__})"
                metrics.source_request(self.source_name, "timeout")
            except httpx.TransportError as exc:
                problem = f"connection failed ({exc.__class__.__name__})"
                metrics.source_request(self.source_name, "error")
            else:
                metrics.source_request(self.source_name, response.status_code)
                now = self.clock()
                limit = parse_rate_limit(response.headers, now=now)
                status = response.status_code
                quota = quota_error(self.label, response, now=now)
                if quota is not None:
                    raise quota
                if status == 429:
                    reset_at = limit.reset_at
                    if reset_at is None or reset_at <= now:
                        delay = retry_after_seconds(response.headers.get("retry-after"), now=now)
                        reset_at = now + timedelta(
                            seconds=delay if delay is not None else DEFAULT_RATE_LIMIT_SECONDS
                        )
                    self._block(reset_at, bucket)
                    metrics.rate_limit_wait(self.source_name, "429")
                    raise SourceRateLimited(
                        f"{self.source_name} answered 429: rate limited until {reset_at.isoformat()}",
                        reset_at=reset_at,
                        bucket=bucket,
                    )
                if limit.remaining == 0 and limit.reset_at is not None and limit.reset_at > now:
                    self._block(limit.reset_at, bucket)
                if status in self.passthrough_statuses:
                    return Reply(response=response, attempts=attempts, rate_limit=limit)
                if status in (401, 403):
                    raise BadCredentials(
                        f"{self.source_name} refused the credentials (HTTP {status}): check the API key"
                    )
                if status < 400 or status == 404:
                    return Reply(response=response, attempts=attempts, rate_limit=limit)
                if status not in RETRYABLE_STATUSES:
                    raise RequestRejected(f"{self.source_name} rejected the request (HTTP {status})")
                problem = f"HTTP {status}"
                retry_after = retry_after_seconds(response.headers.get("retry-after"), now=now)
            if attempts > self.max_retries:
                raise TransientSourceError(
                    f"{self.source_name} failed after {attempts} attempt(s): {problem}"
                )
            delay = backoff_delay(
                attempts, base=self.retry_base_seconds, cap=self.retry_cap_seconds, rand=self._rand
            )
            if retry_after is not None:
                if retry_after > self.retry_cap_seconds:
                    raise TransientSourceError(
                        f"{self.source_name} is unavailable ({problem}); it asks to retry in "
                        f"{retry_after:.0f} s"
                    )
                delay = max(delay, retry_after)
            logger.warning(
                "source.retry",
                source=self.source_name,
                attempt=attempts,
                problem=problem,
                delay_seconds=round(delay, 3),
            )
            await self._sleep(delay)
