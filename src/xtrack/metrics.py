"""Prometheus metrics: what the engine counts, and the ``/metrics`` exposition.

Counters and histograms (updated where the work happens):

    xtrack_executions_total{status,trigger,error_kind}   every end of an attempt: COMPLETED, FAILED,
                                                          CANCELLED, or RETRYING (re-queued with
                                                          back-off; error_kind says why)
    xtrack_execution_duration_seconds{trigger,status}    claim to finish of COMPLETED/FAILED attempts
    xtrack_dispatch_lag_seconds                          start minus scheduled_for (SCHEDULED runs,
                                                          first attempt)
    xtrack_posts_fetched_total{trigger}                  new posts the completed runs summarized
    xtrack_source_requests_total{source,status}          every upstream HTTP request (status code,
                                                          or "timeout" / "error")
    xtrack_rate_limit_waits_total{source,reason}         "429": the upstream said stop; "budget":
                                                          a request held back until the reset
    xtrack_llm_tokens_total{summarizer,model,direction}  direction = input | output
    xtrack_llm_cost_usd_total{summarizer,model}
    xtrack_notification_deliveries_total{status}         ``record_delivery(status)`` (notify package)

Gauges read from the database on each scrape are ``xtrack.ops.gauges`` (this module is the core
layer: it reads no table).

Several processes (Celery workers next to the web process): set ``PROMETHEUS_MULTIPROC_DIR`` to an
empty directory shared by the processes of one machine *before they start* (wipe it at boot). Each
process then writes its samples to files there and ``/metrics`` merges them with prometheus-client's
``MultiProcessCollector``. Without it every process counts on its own and ``/metrics`` shows the web
process only.

Access: with ``XTRACK_METRICS_TOKEN`` set, ``/metrics`` requires ``Authorization: Bearer <token>``;
without it, it answers only to loopback clients (Prometheus on the same host, or a proxy that does
not forward the client's address: then set the token) and is a 404 for everyone else.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = CONTENT_TYPE_LATEST
RETRYING = "RETRYING"
_TIMED_STATUSES = ("COMPLETED", "FAILED")  # ExecutionStatus values (the executions layer is above)

EXECUTIONS = Counter(
    "xtrack_executions",
    "Ends of execution attempts, by outcome (RETRYING: re-queued for another attempt).",
    ["status", "trigger", "error_kind"],
)
EXECUTION_DURATION = Histogram(
    "xtrack_execution_duration_seconds",
    "From claim to COMPLETED or FAILED.",
    ["trigger", "status"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
)
DISPATCH_LAG = Histogram(
    "xtrack_dispatch_lag_seconds",
    "How late a scheduled run started: started_at minus scheduled_for.",
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600, 4 * 3600),
)
POSTS_FETCHED = Counter("xtrack_posts_fetched", "New posts summarized by completed executions.", ["trigger"])
SOURCE_REQUESTS = Counter(
    "xtrack_source_requests", "HTTP requests to post sources, by status code.", ["source", "status"]
)
RATE_LIMIT_WAITS = Counter(
    "xtrack_rate_limit_waits",
    "Requests stopped by a source's rate limit (429: the upstream said so; budget: held back).",
    ["source", "reason"],
)
LLM_TOKENS = Counter("xtrack_llm_tokens", "LLM tokens used.", ["summarizer", "model", "direction"])
LLM_COST = Counter("xtrack_llm_cost_usd", "LLM cost in US dollars.", ["summarizer", "model"])
NOTIFICATION_DELIVERIES = Counter(
    "xtrack_notification_deliveries", "Notification delivery attempts, by outcome.", ["status"]
)


def execution_finished(
    *, status: str, trigger: str, error_kind: str | None = None, seconds: float | None = None, posts: int = 0
) -> None:
    """An attempt ended: ``status`` COMPLETED, FAILED, CANCELLED or RETRYING."""
    EXECUTIONS.labels(status=status, trigger=trigger, error_kind=error_kind or "").inc()
    if seconds is not None and status in _TIMED_STATUSES:
        EXECUTION_DURATION.labels(trigger=trigger, status=status).observe(max(0.0, seconds))
    if posts:
        POSTS_FETCHED.labels(trigger=trigger).inc(posts)


def execution_started(
    *, trigger: str, attempt: int, scheduled_for: datetime | None, started_at: datetime
) -> None:
    """A claim: the dispatch lag of a scheduled run's first attempt."""
    if trigger == "SCHEDULED" and attempt == 1 and scheduled_for is not None:
        DISPATCH_LAG.observe(max(0.0, (started_at - scheduled_for).total_seconds()))


def source_request(source: str, status: int | str) -> None:
    SOURCE_REQUESTS.labels(source=source, status=str(status)).inc()


def rate_limit_wait(source: str, reason: str) -> None:
    RATE_LIMIT_WAITS.labels(source=source, reason=reason).inc()


def llm_usage(*, summarizer: str, model: str, input_tokens: int, output_tokens: int, cost: float) -> None:
    LLM_TOKENS.labels(summarizer=summarizer, model=model, direction="input").inc(max(0, input_tokens))
    LLM_TOKENS.labels(summarizer=summarizer, model=model, direction="output").inc(max(0, output_tokens))
    if cost > 0:
        LLM_COST.labels(summarizer=summarizer, model=model).inc(cost)


def record_delivery(status: str) -> None:
    """One notification delivery attempt ended with ``status`` (e.g. SENT, FAILED, RETRYING)."""
    NOTIFICATION_DELIVERIES.labels(status=status).inc()


# Exposition ---------------------------------------------------------------------------------------


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR")


def process_registry() -> CollectorRegistry:
    """This process's metrics, or every process's when PROMETHEUS_MULTIPROC_DIR is set."""
    directory = multiprocess_dir()
    if not directory:
        return REGISTRY
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return registry


def exposition(extra: Sequence[Metric] = ()) -> bytes:
    """The text exposition: the process (or multiprocess) metrics, then ``extra`` (e.g. gauges read
    from the database at scrape time, ``xtrack.ops.gauges``)."""
    body = generate_latest(process_registry())
    if extra:
        snapshot = CollectorRegistry()
        snapshot.register(_Snapshot(list(extra)))
        body += generate_latest(snapshot)
    return body


class _Snapshot(Collector):
    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> list[Metric]:
        return self.metrics
