"""How a run's failure is classified: what is retried and what the execution says."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from xtrack.executions.failures import classify


def test_a_busy_database_is_retried_not_failed_for_good() -> None:
    waited = classify(PoolTimeout("QueuePool limit of size 20 overflow 20 reached, connection timed out"))
    refused = classify(DBAPIError("SELECT 1", None, Exception("sorry, too many clients already")))

    for failure in (waited, refused):
        assert failure.retryable and failure.kind == "internal"
        assert failure.message == "The database was too busy to take the run; it will be retried."


def test_an_unknown_database_error_is_not_retried() -> None:
    failure = classify(DBAPIError("SELECT 1", None, Exception("syntax error at or near")))

    assert not failure.retryable and failure.message == "Internal error (DBAPIError)."
