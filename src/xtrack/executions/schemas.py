"""Executions out of the API: one shape for the history list and a single execution."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, field_validator

from xtrack.executions.service import ExecutionView


class AccountCount(BaseModel):
    username: str
    posts_fetched: int
    posts_kept: int
    error: str | None


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
    llm_cost_usd: float | None = Field(default=None, description="The LLM cost of the run's summary (USD)")
    covered_from: datetime | None = Field(description="Oldest time this run's posts could come from")
    covered_to: datetime | None = Field(description="When the account was read for this run")
    gap: bool = Field(description="The source could not reach back to the job's cursor")
    gap_note: str | None = Field(default=None, description="Why the run may miss posts, when `gap` is true")
    source_requests: int = Field(default=0, description="Requests this run made to the post source")
    posts_read: int = Field(default=0, description="Posts the source returned to this run (what it bills)")
    source_cost_usd: float = Field(
        default=0.0,
        description="Estimated upstream cost of the run in US dollars (XTRACK_*_PRICE_* settings)",
    )
    params: dict[str, Any] = Field(
        description="What ran: x_username, topics, language, hours_back (and a briefing's accounts, filters)"
    )
    posts_summarized: int | None = Field(
        default=None, description="Posts left after the job's filters (what the summarizer saw)"
    )
    warnings: list[str] = Field(
        default_factory=list, description="One readable line per account the run skipped, naming it and why"
    )
    accounts: list[AccountCount] = Field(
        default_factory=list, description="Per account: posts fetched, posts kept, the error if skipped"
    )

    @field_validator("warnings", "accounts", mode="before")
    @classmethod
    def _none_is_empty(cls, value: object) -> object:
        return [] if value is None else value

    @classmethod
    def of(cls, view: ExecutionView) -> ExecutionRead:
        return cls.model_validate(view, from_attributes=True)


class ExecutionPage(BaseModel):
    """Documents the history page; the route serialises the service's HistoryPage in this shape."""

    items: list[ExecutionRead]
    next_before: int | None = Field(description="Pass as `before` for the next (older) page; null at the end")
