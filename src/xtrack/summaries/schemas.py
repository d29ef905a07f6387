"""Summaries out of the API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from xtrack.summaries.models import Summary
from xtrack.text import Text


class SummaryRead(BaseModel):
    id: int
    job_id: int | None
    execution_id: int | None
    is_playground: bool
    x_username: str | None = Field(description="The first of the accounts")
    accounts: list[str] = Field(description="The accounts the summary covers")
    topics: list[str]
    hours_back: int | None
    content: str = Field(description="Markdown: a headline line, then key points linking the posts")
    tweets_count: int
    post_ids: list[str] = Field(description="Ids of the posts summarized")
    model: str | None
    input_tokens: int
    output_tokens: int
    cost: float = Field(description="US dollars")
    offline_reason: str | None = Field(
        default=None,
        description="Why it was written offline although an LLM is configured: 'few_posts' (fewer than "
        "XTRACK_LLM_MIN_POSTS new posts) or 'budget' (the monthly budget is spent); null otherwise",
    )
    created_at: datetime

    @classmethod
    def of(cls, summary: Summary) -> SummaryRead:
        raw = summary.raw_data or {}
        return cls(
            id=summary.id,
            job_id=summary.job_id,
            execution_id=summary.execution_id,
            is_playground=summary.is_playground,
            x_username=summary.x_username,
            accounts=summary.accounts,
            topics=list(summary.topics or []),
            hours_back=summary.hours_back,
            content=summary.content,
            tweets_count=summary.tweets_count,
            post_ids=[str(post_id) for post_id in raw.get("post_ids", [])],
            model=summary.model,
            input_tokens=summary.input_tokens,
            output_tokens=summary.output_tokens,
            cost=summary.cost,
            offline_reason=raw.get("offline"),
            created_at=summary.created_at,
        )


class SummaryPage(BaseModel):
    items: list[SummaryRead]
    next_before: int | None = Field(description="Pass as ?before= for the next (older) page; null at the end")


class FeedCreate(BaseModel):
    name: Text = Field(default="feed", min_length=1, max_length=100, examples=["feed reader"])


class FeedRead(BaseModel):
    id: int
    name: str
    prefix: str = Field(description="The token's first characters, to tell feeds apart")
    created_at: datetime
    last_used_at: datetime | None


class FeedCreated(FeedRead):
    token: str = Field(description="The feed token (the API shows it this once; the Account page lists it)")
    url: str = Field(description="Atom feed of every job's summaries")
    job_url_template: str = Field(description="One job's feed: replace {job_id}")
