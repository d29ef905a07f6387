"""In-memory stand-ins injected into the runner: a source whose posts the test publishes, a clock
the test moves, and summarizers that fail or block on demand."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from xtrack.sources.base import AccountInfo, FetchResult, Post, SourceError
from xtrack.sources.ids import snowflake
from xtrack.summarize.base import SummarizeError, SummaryRequest, SummaryResult


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now


class FakeSource:
    """Posts become visible once the clock passes their time; ``fetch`` honours since_id/start_time."""

    name = "fake"

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.posts: list[Post] = []
        self.fetches = 0
        self.errors: list[SourceError] = []

    def publish(self, at: datetime, text: str = "news about #AI") -> Post:
        post = Post(
            external_id=str(snowflake(at, len(self.posts))),
            author_username="alice",
            text=f"{text} ({len(self.posts)})",
            created_at=at.replace(microsecond=at.microsecond // 1000 * 1000),
            url=f"https://x.com/alice/status/{len(self.posts)}",
            metrics={"likes": len(self.posts)},
        )
        self.posts.append(post)
        return post

    async def resolve(self, username: str) -> AccountInfo:
        if self.errors:
            raise self.errors.pop(0)
        return AccountInfo(username=username, external_id="42", display_name=username.title())

    async def fetch(
        self,
        account: AccountInfo,
        *,
        since_id: str | None,
        start_time: datetime | None,
        etag: str | None = None,
        last_modified: str | None = None,
        end_time: datetime | None = None,
    ) -> FetchResult:
        self.fetches += 1
        if self.errors:
            raise self.errors.pop(0)
        visible = [
            post
            for post in self.posts
            if post.created_at <= self.clock()
            and (since_id is None or post.sort_key > int(since_id))
            and (start_time is None or post.created_at >= start_time)
            and (end_time is None or post.created_at <= end_time)
        ]
        return FetchResult(posts=visible)

    async def aclose(self) -> None:
        return None


class ScriptedSummarizer:
    """Fails with the queued errors first, optionally waits on ``gate``, then summarizes."""

    name = "scripted"

    def __init__(self, *errors: SummarizeError, gate: asyncio.Event | None = None) -> None:
        self.errors = list(errors)
        self.gate = gate
        self.entered = asyncio.Event()
        self.requests: list[SummaryRequest] = []

    async def summarize(self, request: SummaryRequest) -> SummaryResult:
        self.requests.append(request)
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.errors:
            raise self.errors.pop(0)
        ids = [post.external_id for post in request.posts]
        return SummaryResult(
            content=f"## {len(ids)} posts\n" + "\n".join(f"- {i}" for i in ids),
            headline=f"{len(ids)} posts",
            model="scripted-1",
            input_tokens=10 * len(ids),
            output_tokens=5,
            cost=0.001,
            cited_post_ids=ids,
        )

    async def aclose(self) -> None:
        return None
