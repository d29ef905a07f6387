from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from xtrack.db import Base, JSONType, UTCDateTime, utcnow


class ExecutionStatus(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


ACTIVE_STATUSES = (ExecutionStatus.QUEUED.value, ExecutionStatus.RUNNING.value)
FINISHED_STATUSES = (
    ExecutionStatus.COMPLETED.value,
    ExecutionStatus.FAILED.value,
    ExecutionStatus.CANCELLED.value,
)


class Trigger(StrEnum):
    SCHEDULED = "SCHEDULED"
    MANUAL = "MANUAL"
    PLAYGROUND = "PLAYGROUND"


class ErrorKind(StrEnum):
    SOURCE_NOT_FOUND = "source_not_found"
    SOURCE_UNAVAILABLE = "source_unavailable"
    SOURCE_AUTH = "source_auth"
    RATE_LIMITED = "rate_limited"
    UPSTREAM = "upstream"
    MALFORMED_RESPONSE = "malformed_response"
    QUOTA_EXHAUSTED = "quota_exhausted"
    BUDGET_EXHAUSTED = "budget_exhausted"  # the owner's monthly budget is spent and set to pause
    LLM = "llm"
    WORKER_LOST = "worker_lost"
    INTERNAL = "internal"


_ACTIVE_SQL = "status IN ('QUEUED', 'RUNNING')"
_SCHEDULED_SQL = "trigger = 'SCHEDULED'"
PLAYGROUND_SQL = "trigger = 'PLAYGROUND'"
ACTIVE_PLAYGROUND_SQL = f"{PLAYGROUND_SQL} AND {_ACTIVE_SQL}"


class JobExecution(Base):
    __tablename__ = "job_executions"
    __table_args__ = (
        CheckConstraint("status IN ('QUEUED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED')", name="status"),
        CheckConstraint("trigger IN ('SCHEDULED', 'MANUAL', 'PLAYGROUND')", name="trigger"),
        # Invariant 1: one execution per slot, and one active run per job.
        Index(
            "uq_job_executions_job_id_scheduled_for",
            "job_id",
            "scheduled_for",
            unique=True,
            sqlite_where=text(_SCHEDULED_SQL),
            postgresql_where=text(_SCHEDULED_SQL),
        ),
        Index(
            "uq_job_executions_job_id_active",
            "job_id",
            unique=True,
            sqlite_where=text(_ACTIVE_SQL),
            postgresql_where=text(_ACTIVE_SQL),
        ),
        Index("ix_job_executions_job_id_id", "job_id", "id"),
        Index("ix_job_executions_user_id_id", "user_id", "id"),
        # The dispatcher and the reaper only ever look at unfinished rows.
        Index(
            "ix_job_executions_unfinished",
            "status",
            sqlite_where=text(_ACTIVE_SQL),
            postgresql_where=text(_ACTIVE_SQL),
        ),
        # A playground run's quota check (``playground.service.check_quota``): the user's runs in the
        # last 24 hours, and those QUEUED or RUNNING, without walking the user's other rows.
        Index(
            "ix_job_executions_playground_created",
            "user_id",
            "created_at",
            sqlite_where=text(PLAYGROUND_SQL),
            postgresql_where=text(PLAYGROUND_SQL),
        ),
        Index(
            "ix_job_executions_playground_active",
            "user_id",
            sqlite_where=text(ACTIVE_PLAYGROUND_SQL),
            postgresql_where=text(ACTIVE_PLAYGROUND_SQL),
        ),
        # Retention deletes old rows: the ON DELETE SET NULL of retry_of_id must not scan the table.
        Index(
            "ix_job_executions_retry_of_id",
            "retry_of_id",
            sqlite_where=text("retry_of_id IS NOT NULL"),
            postgresql_where=text("retry_of_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=ExecutionStatus.QUEUED.value)
    trigger: Mapped[str] = mapped_column(String(16), default=Trigger.SCHEDULED.value)
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    tweets_fetched: Mapped[int] = mapped_column(Integer, default=0)
    error_kind: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(Text)
    retry_of_id: Mapped[int | None] = mapped_column(ForeignKey("job_executions.id", ondelete="SET NULL"))
    covered_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    covered_to: Mapped[datetime | None] = mapped_column(UTCDateTime)
    gap: Mapped[bool] = mapped_column(Boolean, default=False)
    gap_note: Mapped[str | None] = mapped_column(Text)  # why the run may miss posts, when it says gap
    # What the run cost upstream: requests it made, posts it read, and their estimated price
    # (``XTRACK_*_PRICE_*`` settings); a run that joined another's fetch made none.
    source_requests: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    posts_read: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    source_cost_usd: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    # Posts left after the job's filters (what the summarizer saw); None before it ran.
    posts_summarized: Mapped[int | None] = mapped_column(Integer)
    # A briefing's skipped accounts, one readable line each, and its per-account counts
    # (``username``, ``posts_fetched``, ``posts_kept``, ``error``).
    warnings: Mapped[list[str] | None] = mapped_column(JSONType)
    accounts: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)

    @property
    def duration_ms(self) -> int | None:
        return duration_ms(self.started_at, self.completed_at)


def duration_ms(started_at: datetime | None, completed_at: datetime | None) -> int | None:
    """A run's duration in whole milliseconds, rounded as the pages round it (one figure for one
    run everywhere: the run page said 110 ms and 111 ms when this truncated)."""
    if started_at is None or completed_at is None:
        return None
    return round((completed_at - started_at).total_seconds() * 1000)
