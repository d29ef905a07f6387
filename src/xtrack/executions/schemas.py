"""Executions out of the API: one shape for the history list and a single execution."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from xtrack.executions.service import ExecutionView


class ExecutionRead(BaseModel):
    id: int
    job_id: int | None
    status: str
    trigger: str
    scheduled_for: datetime | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    duration_ms: int | None
    tweets_fetched: int
    error_kind: str | None
    error_message: str | None
    attempt: int
    not_before: datetime | None = Field(description="A queued retry waits until then")
    retry_of_id: int | None
    summary_id: int | None
    covered_from: datetime | None = Field(description="Oldest time this run's posts could come from")
    covered_to: datetime | None = Field(description="When the account was read for this run")
    gap: bool = Field(description="The source could not reach back to the job's cursor")
    params: dict[str, Any] = Field(description="What ran: x_username, topics, language, hours_back")

    @classmethod
    def of(cls, view: ExecutionView) -> ExecutionRead:
        return cls(
            id=view.id,
            job_id=view.job_id,
            status=view.status,
            trigger=view.trigger,
            scheduled_for=view.scheduled_for,
            created_at=view.created_at,
            started_at=view.started_at,
            completed_at=view.completed_at,
            duration_ms=view.duration_ms,
            tweets_fetched=view.tweets_fetched,
            error_kind=view.error_kind,
            error_message=view.error_message,
            attempt=view.attempt,
            not_before=view.not_before,
            retry_of_id=view.retry_of_id,
            summary_id=view.summary_id,
            covered_from=view.covered_from,
            covered_to=view.covered_to,
            gap=view.gap,
            params=dict(view.params or {}),
        )


class ExecutionPage(BaseModel):
    items: list[ExecutionRead]
    next_before: int | None = Field(description="Pass as `before` for the next (older) page; null at the end")
