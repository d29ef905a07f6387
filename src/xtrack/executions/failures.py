"""What went wrong in a run, in the execution's terms: ``classify`` turns an exception into an
error_kind, a readable message and whether a retry can help; ``retry_wait`` says when it may start."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from xtrack import backoff
from xtrack.db import connection_lost
from xtrack.executions.models import ErrorKind
from xtrack.sources.base import SourceError, SourceRateLimited
from xtrack.summarize.base import SummarizeError

# Automatic retries of a failed attempt wait backoff_delay(attempt, base, cap) seconds.
RETRY_BASE_SECONDS = 30.0
RETRY_CAP_SECONDS = 15 * 60.0
_TOO_MANY_CLIENTS = "too many clients"  # PostgreSQL's max_connections reached (SQLSTATE 53300)


class RunFailure(Exception):
    """A classified failure: ``kind`` is the execution's error_kind."""

    def __init__(self, kind: str, message: str, *, retryable: bool, retry_at: datetime | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retryable = retryable
        self.retry_at = retry_at


def classify(exc: BaseException) -> RunFailure:
    """Map an exception to error_kind, a readable message and whether a retry can help."""
    if isinstance(exc, RunFailure):
        return exc
    if isinstance(exc, SourceRateLimited):
        return RunFailure(
            ErrorKind.RATE_LIMITED.value,
            f"The source is rate limited until {exc.reset_at:%Y-%m-%d %H:%M:%S} UTC: {exc.message}",
            retryable=True,
            retry_at=exc.reset_at,
        )
    if isinstance(exc, SourceError):
        return RunFailure(exc.kind, exc.message, retryable=exc.retryable)
    if isinstance(exc, SummarizeError):
        return RunFailure(ErrorKind.LLM.value, f"Summarizing failed: {exc.message}", retryable=exc.retryable)
    if isinstance(exc, OperationalError | DBAPIError) and connection_lost(exc):
        # Also a database still recovering after a restart ("not yet accepting connections"), which
        # the driver does not flag as a lost connection: the soak saw it fail runs for good.
        return RunFailure(ErrorKind.INTERNAL.value, "Lost the database connection.", retryable=True)
    if isinstance(exc, PoolTimeout) or (isinstance(exc, DBAPIError) and _TOO_MANY_CLIENTS in str(exc)):
        # The database is busy, not broken (an overloaded host under a burst): try again later.
        return RunFailure(
            ErrorKind.INTERNAL.value,
            "The database was too busy to take the run; it will be retried.",
            retryable=True,
        )
    if isinstance(exc, OSError | TimeoutError):
        return RunFailure(ErrorKind.INTERNAL.value, f"{type(exc).__name__}: {exc}"[:500], retryable=True)
    return RunFailure(ErrorKind.INTERNAL.value, f"Internal error ({type(exc).__name__}).", retryable=False)


def retry_wait(failure: RunFailure, exc: BaseException, *, attempt: int, now: datetime) -> datetime:
    """When a retry may start: a rate limit's reset, a provider's Retry-After, or a back-off."""
    if failure.retry_at is not None:
        return max(failure.retry_at, now)
    delay = backoff.backoff_delay(attempt, base=RETRY_BASE_SECONDS, cap=RETRY_CAP_SECONDS)
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, int | float) and retry_after > delay:
        delay = float(retry_after)
    return backoff.not_before(now, delay)
