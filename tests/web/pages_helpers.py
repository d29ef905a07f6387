"""Rows for the page tests: runs, summaries and stored posts, written directly (the engine's own tests
cover how they come about), and small readers of the HTML the pages return."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from xtrack.db import utcnow
from xtrack.executions.models import JobExecution
from xtrack.jobs.models import Job
from xtrack.posts.models import StoredPost, XAccount
from xtrack.summaries.models import Summary


async def add_run(
    session: AsyncSession,
    job: Job | None,
    *,
    user_id: int | None = None,
    status: str = "COMPLETED",
    trigger: str = "SCHEDULED",
    tweets: int = 3,
    started: datetime | None = None,
    seconds: float = 4.0,
    error_kind: str | None = None,
    error_message: str | None = None,
    params: dict[str, Any] | None = None,
    attempt: int = 1,
) -> JobExecution:
    """One execution of ``job`` (or a playground run when ``job`` is None)."""
    started = started or utcnow() - timedelta(minutes=5)
    finished = status in {"COMPLETED", "FAILED", "CANCELLED"}
    run = JobExecution(
        job_id=job.id if job else None,
        user_id=job.user_id if job else user_id,
        status=status,
        trigger=trigger,
        params=params
        or {
            "x_username": job.x_username if job else "alice",
            "topics": ["ai"],
            "language": "en",
            "hours_back": 24,
        },
        created_at=started - timedelta(seconds=1),
        started_at=None if status == "QUEUED" else started,
        completed_at=started + timedelta(seconds=seconds) if finished and status != "CANCELLED" else None,
        tweets_fetched=tweets if status == "COMPLETED" else 0,
        error_kind=error_kind or ("upstream" if status == "FAILED" else None),
        error_message=error_message or ("Upstream said no (HTTP 503)." if status == "FAILED" else None),
        attempt=attempt,
        covered_from=started - timedelta(hours=1) if status == "COMPLETED" else None,
        covered_to=started if status == "COMPLETED" else None,
    )
    session.add(run)
    await session.flush()
    return run


async def add_posts(
    session: AsyncSession, username: str, count: int, *, source: str = "demo"
) -> list[StoredPost]:
    """``count`` stored posts of @username (ids 1000, 1001, ...), newest last."""
    account = XAccount(source=source, username=username.lower(), created_at=utcnow())
    session.add(account)
    await session.flush()
    now = utcnow()
    posts = [
        StoredPost(
            account_id=account.id,
            external_id=str(1000 + index),
            sort_key=1000 + index,
            author_username=username,
            text=f"Post number {index} about #AI <b>bold?</b>",
            url=f"https://x.com/{username}/status/{1000 + index}",
            created_at=now - timedelta(minutes=count - index),
            metrics={},
            fetched_at=now,
        )
        for index in range(count)
    ]
    session.add_all(posts)
    await session.flush()
    return posts


async def add_summary(
    session: AsyncSession,
    run: JobExecution,
    *,
    content: str = "## @alice: 3 posts\n\n- First point [1](https://x.com/alice/status/1000)\n- Second point",
    post_ids: list[str] | None = None,
    username: str = "alice",
) -> Summary:
    summary = Summary(
        job_id=run.job_id,
        execution_id=run.id,
        user_id=run.user_id,
        is_playground=run.job_id is None,
        x_username=username,
        topics=["ai"],
        hours_back=24 if run.job_id is None else None,
        content=content,
        tweets_count=len(post_ids or []) or 3,
        raw_data={"post_ids": post_ids or [], "headline": "@alice: 3 posts"},
        created_at=utcnow(),
        model="extractive",
        input_tokens=1234,
        output_tokens=56,
        cost=0.0042,
    )
    session.add(summary)
    await session.flush()
    return summary


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(html: str, name: str) -> list[dict[str, str | None]]:
    """The attributes of every ``<name>`` element."""
    parser = _Collector()
    parser.feed(html)
    return [attrs for tag, attrs in parser.tags if tag == name]


def text_of(html: str) -> str:
    """The page's text with tags removed and whitespace collapsed (entities decoded)."""
    import html as html_module

    without = re.sub(r"<script.*?</script>|<[^>]+>", " ", html, flags=re.S)
    return " ".join(html_module.unescape(without).split())


def title_of(html: str) -> str:
    match = re.search(r"<title>(.*?)</title>", html, flags=re.S)
    assert match, "no <title>"
    return " ".join(match.group(1).split())


def row_ids(html: str) -> list[int]:
    """The run ids of the rows in a runs table, in page order."""
    return [int(value) for value in re.findall(r'<tr id="run-(\d+)"', html)]


def link(html: str, rel: str) -> str | None:
    """The href of the pagination link with ``rel`` ("prev" for Newer, "next" for Older)."""
    for attrs in tags(html, "a"):
        if attrs.get("rel") == rel:
            href = attrs.get("href") or ""
            return href
    return None


def flash_after(response: httpx.Response) -> str:
    """The text of the page a redirect led to (follow_redirects=True)."""
    return text_of(response.text)
