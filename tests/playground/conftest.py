from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.executions.conftest import RecordingExecutor
from xtrack.config import Settings
from xtrack.db import Database, utcnow
from xtrack.executions.models import JobExecution
from xtrack.summaries.models import Summary
from xtrack.users.models import User
from xtrack.web.app import create_app

ClientFactory = Callable[..., Any]


@pytest.fixture
def api(db: Database, settings: Settings) -> ClientFactory:
    """``async with api(playground_daily_quota=3) as (client, executor):`` an HTTP client on an app
    with these settings and a recording executor (what the routes hand out)."""

    @asynccontextmanager
    async def make(**overrides: Any) -> AsyncIterator[tuple[httpx.AsyncClient, RecordingExecutor]]:
        app = create_app(settings.model_copy(update=overrides), database=db)
        executor = RecordingExecutor()
        app.state.executor = executor
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client, executor

    return make


PARAMS = {"x_username": "alice", "topics": ["ai"], "hours_back": 24, "language": "en"}


async def add_run(
    session: AsyncSession,
    user: User | None,
    *,
    status: str = "COMPLETED",
    created_at: datetime | None = None,
    params: dict[str, Any] | None = None,
    summary: bool = False,
    **values: Any,
) -> JobExecution:
    """A playground run row (and its summary when ``summary``), committed."""
    now = created_at or utcnow()
    run = JobExecution(
        job_id=None,
        user_id=user.id if user else None,
        status=status,
        trigger="PLAYGROUND",
        params=dict(params or PARAMS),
        created_at=now,
        **values,
    )
    session.add(run)
    await session.flush()
    if summary:
        session.add(
            Summary(
                execution_id=run.id,
                user_id=run.user_id,
                is_playground=True,
                x_username=run.params["x_username"],
                topics=run.params["topics"],
                hours_back=run.params["hours_back"],
                content=f"## Summary of run {run.id}",
                tweets_count=2,
                raw_data={"post_ids": ["101", "102"], "headline": f"Summary of run {run.id}"},
                created_at=now,
                model="gpt-test",
                input_tokens=120,
                output_tokens=30,
                cost=0.0042,
            )
        )
    await session.commit()
    return run


AddRun = Callable[..., Awaitable[JobExecution]]
