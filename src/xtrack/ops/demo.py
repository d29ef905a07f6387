"""``xtrack demo``: a demo user with three jobs whose first runs went through the real pipeline
(dispatcher -> runner -> demo source -> summarizer), so a first look shows living data."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from xtrack.config import Settings
from xtrack.db import Database, utcnow
from xtrack.executions import dispatcher
from xtrack.jobs import service as jobs_service
from xtrack.jobs.schemas import JobCreate
from xtrack.users import service as users_service
from xtrack.users.models import UserStatus

DEMO_EMAIL = "demo@example.com"

DEMO_JOBS = (
    JobCreate(x_username="ai_frontier", topics=["AI", "LLMs", "agents"], frequency=15, language="en"),
    # A briefing over the three networks: X, Bluesky and Mastodon accounts in one summary.
    JobCreate(
        x_username="chipwatch",
        accounts=["chipwatch", "silicon-notes.bsky.social", "@gpu_digest@mastodon.social"],
        topics=["chips", "semiconductors", "GPUs"],
        frequency=60,
        language="en",
    ),
    JobCreate(x_username="marketpulse", topics=["markets", "earnings"], frequency=360, language="en"),
)


@dataclass(frozen=True)
class DemoResult:
    created: bool
    email: str
    password: str | None  # only when the user was just created: it is never stored in clear
    login_url: str
    jobs: int
    executions: int


async def ensure_demo(
    database: Database,
    settings: Settings,
    *,
    run: Callable[[int], Awaitable[None]],
    now: datetime | None = None,
) -> DemoResult:
    """Create the demo user, jobs and first runs (through ``run``) once; later calls only issue a
    fresh sign-in link."""
    now = now or utcnow()
    async with database.session() as session:
        user = await users_service.get_by_email(session, DEMO_EMAIL)
        if user is not None:
            login_url = await users_service.create_login_link(session, user, now, settings=settings)
            return DemoResult(False, DEMO_EMAIL, None, login_url, jobs=0, executions=0)
        password = secrets.token_urlsafe(12)
        user = await users_service.create(
            session,
            email=DEMO_EMAIL,
            password=password,
            status=UserStatus.ACTIVE,
            settings=settings,
        )
        for data in DEMO_JOBS:
            await jobs_service.create(
                session, owner=user, data=data, max_jobs=settings.max_jobs_per_user, now=now
            )
        login_url = await users_service.create_login_link(session, user, now, settings=settings)

    # The new jobs are due now: one real scheduler tick queues their first runs, which then run
    # through the real runner, here, before the server starts.
    tick = await dispatcher.tick(database, now=now, executor=None)
    for execution_id in tick.execution_ids:
        await run(execution_id)
    return DemoResult(
        True, DEMO_EMAIL, password, login_url, jobs=len(DEMO_JOBS), executions=len(tick.execution_ids)
    )
