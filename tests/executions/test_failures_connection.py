"""A run cut off by a database that is restarting is retried, not FAILED for good: asyncpg's
"the database system is not yet accepting connections" (found by the soak) is a lost connection."""

from __future__ import annotations

from asyncpg.exceptions import CannotConnectNowError, UndefinedTableError
from sqlalchemy.exc import DBAPIError

from xtrack.executions.failures import classify


def _wrapped(error: Exception) -> DBAPIError:
    """The driver's error as SQLAlchemy raises it (connection_invalidated left False)."""
    return DBAPIError.instance("SELECT 1", {}, error, Exception)


def test_a_database_still_recovering_is_a_retryable_lost_connection() -> None:
    failure = classify(
        _wrapped(CannotConnectNowError("the database system is not yet accepting connections"))
    )
    assert failure.retryable and failure.kind == "internal"
    assert failure.message == "Lost the database connection."


def test_a_bad_statement_is_not_retried() -> None:
    failure = classify(_wrapped(UndefinedTableError('relation "nope" does not exist')))
    assert not failure.retryable
