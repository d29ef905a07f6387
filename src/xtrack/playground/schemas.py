"""Playground runs in and out of the API. The inputs reuse the jobs' validators (username, topics,
language, frequency), so a run and the job saved from it accept exactly the same values."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from xtrack.jobs.schemas import (
    Accounts,
    Frequency,
    Language,
    Topics,
    Username,
    accounts_first,
    accounts_or_username,
)

if TYPE_CHECKING:
    from xtrack.playground.history import HistoryPage, PlaygroundRun, PlaygroundSummary

MAX_HOURS_BACK = 168

HoursBack = Annotated[
    int,
    Field(ge=1, le=MAX_HOURS_BACK, description=f"How far back to read, in hours (1 to {MAX_HOURS_BACK})"),
]


class PlaygroundRunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=accounts_or_username)

    x_username: Username
    accounts: Accounts | None = Field(default=None, description="A briefing to try: 1 to 50 accounts")
    topics: Topics = Field(default_factory=list)
    hours_back: HoursBack = 24
    language: Language = "en"
    confirm_cost: StrictBool = Field(
        default=False,
        description="Run even though the estimate exceeds XTRACK_CONFIRM_ABOVE_USD (409 shows it)",
    )

    @model_validator(mode="before")
    @classmethod
    def _first_account(cls, data: Any) -> Any:
        return accounts_first(data)


class SaveAsJob(BaseModel):
    model_config = ConfigDict(extra="forbid")

    frequency: Frequency = 360


class PlaygroundSummaryRead(BaseModel):
    """A playground run's summary on the wire (the API's only definition of it)."""

    model_config = ConfigDict(from_attributes=True)  # read from the service's views

    id: int
    content: str = Field(description="Markdown: a headline line, then key points linking the posts")
    tweets_count: int
    post_ids: list[str] = Field(description="Ids of the posts summarized")
    model: str | None
    input_tokens: int
    output_tokens: int
    cost: float = Field(description="US dollars")
    created_at: datetime

    @classmethod
    def of(cls, summary: PlaygroundSummary) -> PlaygroundSummaryRead:
        return cls.model_validate(summary)


class PlaygroundRunRead(BaseModel):
    """A playground run on the wire (the API's only definition of it)."""

    model_config = ConfigDict(from_attributes=True)  # read from the service's views

    id: int
    status: str = Field(description="QUEUED, RUNNING, COMPLETED, FAILED or CANCELLED")
    x_username: str
    accounts: list[str] = Field(description="The accounts read (the first is x_username)")
    topics: list[str]
    hours_back: int
    language: str
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    duration_ms: int | None
    tweets_fetched: int = Field(description="Posts summarized")
    error_kind: str | None = Field(description="Why the run failed (or why a queued retry waits)")
    error_message: str | None
    attempt: int
    not_before: datetime | None = Field(description="A queued automatic retry waits until then")
    retry_of_id: int | None = Field(description="The failed run this one retries")
    covered_from: datetime | None = Field(description="Oldest time the run's posts could come from")
    covered_to: datetime | None = Field(description="When the account was read for this run")
    summary: PlaygroundSummaryRead | None = Field(description="Present once the run has completed with posts")

    @classmethod
    def of(cls, run: PlaygroundRun) -> PlaygroundRunRead:
        return cls.model_validate(run)


class PlaygroundHistory(BaseModel):
    """A page of the history, newest first."""

    model_config = ConfigDict(from_attributes=True)  # read from the service's views

    items: list[PlaygroundRunRead]
    next_before: int | None = Field(description="Pass as `before` for the next (older) page; null at the end")

    @classmethod
    def of(cls, page: HistoryPage) -> PlaygroundHistory:
        return cls.model_validate(page)
