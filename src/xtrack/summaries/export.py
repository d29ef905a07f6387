"""Export a user's summaries as JSON or Markdown, streamed page by page (any number of summaries in
constant memory). The API (``GET /api/v1/summaries/export``) and ``xtrack export`` share this.

JSON: ``{"format": "xtrack.summaries/1", "exported_at": …, "user": {"email": …}, "filters": {…},
"summaries": [SummaryRead, …], "count": N}``, newest first.
Markdown: a title, then one section per summary (account, time, topics, posts, model), its
Markdown as written, separated by rules.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Literal

from xtrack.db import Database
from xtrack.summaries import service as summaries_service
from xtrack.summaries.models import Summary
from xtrack.summaries.schemas import SummaryRead

ExportFormat = Literal["json", "md"]
PAGE_SIZE = 200
MEDIA_TYPES: dict[str, str] = {"json": "application/json", "md": "text/markdown; charset=utf-8"}


async def iter_summaries(
    database: Database,
    *,
    owner_id: int,
    filters: summaries_service.SummaryFilters,
    page_size: int | None = None,
) -> AsyncIterator[Summary]:
    """Every matching summary, newest first; one short session per page (keyset on id)."""
    page_size = page_size or PAGE_SIZE
    before: int | None = None
    while True:
        async with database.session() as session:
            page = await summaries_service.list_for_owner(
                session, owner_id=owner_id, filters=filters, before=before, limit=page_size
            )
        for summary in page.items:
            yield summary
        if page.next_before is None:
            return
        before = page.next_before


def filename(fmt: ExportFormat, *, now: datetime) -> str:
    return f"xtrack-summaries-{now.astimezone(UTC):%Y%m%d-%H%M%S}.{fmt}"


def _filters_dict(filters: summaries_service.SummaryFilters) -> dict[str, Any]:
    return {
        "job_id": filters.job_id,
        "playground": filters.playground,
        "since": filters.since.isoformat() if filters.since else None,
    }


async def stream_json(
    database: Database, *, owner_id: int, email: str, filters: summaries_service.SummaryFilters, now: datetime
) -> AsyncIterator[bytes]:
    head = {
        "format": "xtrack.summaries/1",
        "exported_at": now.astimezone(UTC).isoformat(),
        "user": {"email": email},
        "filters": _filters_dict(filters),
    }
    yield (json.dumps(head, indent=2)[:-2] + ',\n  "summaries": [').encode()
    count = 0
    async for summary in iter_summaries(database, owner_id=owner_id, filters=filters):
        item = json.dumps(SummaryRead.of(summary).model_dump(mode="json"), ensure_ascii=False)
        yield (("," if count else "") + "\n    " + item).encode()
        count += 1
    yield (("\n  " if count else "") + f'],\n  "count": {count}\n}}\n').encode()


def _when(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%a %d %b %Y, %H:%M UTC")


def summary_markdown(summary: Summary) -> str:
    """One summary as a Markdown section."""
    who = summary.who
    facts = [f"Posts: {summary.tweets_count}"]
    if summary.topics:
        facts.insert(0, "Topics: " + ", ".join(summary.topics))
    if summary.is_playground:
        window = f", last {summary.hours_back} hours" if summary.hours_back else ""
        facts.append(f"Playground run{window}")
    elif summary.job_id is not None:
        facts.append(f"Job {summary.job_id}")
    if summary.model:
        facts.append(f"Model: {summary.model}")
    return f"## {who} · {_when(summary.created_at)}\n\n_{' · '.join(facts)}_\n\n{summary.content.strip()}\n"


async def stream_markdown(
    database: Database, *, owner_id: int, email: str, filters: summaries_service.SummaryFilters, now: datetime
) -> AsyncIterator[bytes]:
    yield f"# XTrack summaries\n\nExported {_when(now)} for {email}.\n".encode()
    count = 0
    async for summary in iter_summaries(database, owner_id=owner_id, filters=filters):
        yield ("\n---\n\n" + summary_markdown(summary)).encode()
        count += 1
    if count == 0:
        yield b"\nNo summaries yet.\n"


def stream(
    fmt: ExportFormat,
    database: Database,
    *,
    owner_id: int,
    email: str,
    filters: summaries_service.SummaryFilters,
    now: datetime,
) -> AsyncIterator[bytes]:
    """The export in ``fmt`` ("json" or "md")."""
    writer = stream_json if fmt == "json" else stream_markdown
    return writer(database, owner_id=owner_id, email=email, filters=filters, now=now)
