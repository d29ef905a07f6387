"""Runs on an RSS bridge that does not answer with a feed: a FAILED run naming the bridge's
message, never a COMPLETED "0 new posts"."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import make_job
from tests.executions.fakes import Clock, ScriptedSummarizer
from tests.executions.test_upstream_fidelity import T0, execution, run_due
from tests.fakes.server import serve_app
from tests.sources.fakes import FakeFeed
from tests.sources.test_rss_contract import ANUBIS_BOT_CHECK, rsshub_error_page
from xtrack.config import Settings
from xtrack.db import Database
from xtrack.executions.models import ExecutionStatus
from xtrack.posts.models import XAccount
from xtrack.sources.rss import RssSource


@pytest.mark.parametrize(
    ("status", "body", "said"),
    [
        (
            503,
            rsshub_error_page("ConfigNotFoundError: Twitter API is not configured"),
            "Twitter API is not configured",
        ),
        (200, ANUBIS_BOT_CHECK, "Making sure you're not a bot!"),
    ],
)
async def test_a_bridge_page_fails_the_run_with_its_message(
    db: Database, session: AsyncSession, settings: Settings, status: int, body: str, said: str
) -> None:
    clock = Clock(T0)
    fake = FakeFeed()
    fake.add_user("alice")
    fake.fail_next(status, body=body, headers={"content-type": "text/html; charset=utf-8"})
    await make_job(session, x_username="alice", now=clock())
    await session.commit()
    with serve_app(fake.app) as base_url:
        source = RssSource(
            url_template=base_url + "/{username}/rss", public_url="http://t", timeout=2, max_retries=0
        )
        try:
            [run_id] = await run_due(db, clock, source, settings, ScriptedSummarizer())
        finally:
            await source.aclose()

    run = await execution(session, run_id)
    assert (run.status, run.error_kind) == (ExecutionStatus.FAILED.value, "source_unavailable")
    assert run.error_message is not None and said in run.error_message
    assert run.tweets_fetched == 0
    account = (await session.execute(XAccount.__table__.select())).one()
    assert account.state == "ok"  # the bridge failed, not the account
