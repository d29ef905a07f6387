"""/metrics: the counters move by what really happened, and the endpoint is not public."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.conftest import make_job, make_user
from tests.fakes.server import serve_app
from tests.ops.conftest import Scrape, dispatch_and_run, scrape
from tests.sources.fakes import FakeX
from xtrack import metrics
from xtrack.config import Settings
from xtrack.db import Database, utcnow
from xtrack.executions.models import ExecutionStatus, JobExecution
from xtrack.ops import gauges
from xtrack.sources.base import BadCredentials, SourceRateLimited
from xtrack.sources.x import XSource
from xtrack.summarize.base import SummaryRequest
from xtrack.summarize.openai import OpenAISummarizer
from xtrack.web.app import create_app


async def test_counters_move_by_what_the_runs_did(
    db: Database, session: AsyncSession, client: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await make_user(session)
    for username in ("alice", "bob", "missing"):  # "missing" does not exist on the demo source
        await make_job(session, owner=owner, x_username=username, now=utcnow())
    await session.commit()
    before = await scrape(client)

    ids = await dispatch_and_run(db, settings)

    after = await scrape(client)
    assert len(ids) == 3
    rows = (await session.execute(select(JobExecution).where(JobExecution.id.in_(ids)))).scalars().all()
    completed = [row for row in rows if row.status == ExecutionStatus.COMPLETED.value]
    failed = [row for row in rows if row.status == ExecutionStatus.FAILED.value]
    assert len(completed) == 2 and len(failed) == 1 and failed[0].error_kind == "source_not_found"
    posts = sum(row.tweets_fetched for row in completed)
    assert posts > 0

    def delta(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    scheduled = {"trigger": "SCHEDULED"}
    assert delta("xtrack_executions_total", status="COMPLETED", error_kind="", **scheduled) == 2
    assert delta("xtrack_executions_total", status="FAILED", error_kind="source_not_found", **scheduled) == 1
    assert delta("xtrack_posts_fetched_total", **scheduled) == posts
    assert delta("xtrack_execution_duration_seconds_count", status="COMPLETED", **scheduled) == 2
    assert delta("xtrack_execution_duration_seconds_count", status="FAILED", **scheduled) == 1
    assert delta("xtrack_dispatch_lag_seconds_count") == 3
    # The lag is real time between the slot and the claim: small, and never negative.
    lag = delta("xtrack_dispatch_lag_seconds_sum")
    assert 0 <= lag < 60
    # Scrape-time gauges come from the database.
    queued = await session.scalar(
        select(func.count()).select_from(JobExecution).where(JobExecution.status == "QUEUED")
    )
    assert after.value("xtrack_executions_queued") == queued
    assert after.value("xtrack_executions_running") == 0


async def test_queue_gauges_count_waiting_executions(
    session: AsyncSession, client: httpx.AsyncClient
) -> None:
    owner = await make_user(session)
    job = await make_job(session, owner=owner)
    created = utcnow() - timedelta(minutes=5)
    session.add(
        JobExecution(
            job_id=job.id, user_id=owner.id, status="QUEUED", trigger="MANUAL", params={}, created_at=created
        )
    )
    await session.commit()
    after = await scrape(client)
    assert after.value("xtrack_executions_queued") >= 1
    assert 290 <= after.value("xtrack_oldest_queued_seconds") < 600


@pytest.fixture
def fake_x() -> Iterator[tuple[FakeX, str]]:
    fake = FakeX(token="right-token")
    fake.add_user("alice")
    with serve_app(fake.app) as url:
        yield fake, url


def _x(url: str, token: str) -> XSource:
    return XSource(base_url=url, bearer_token=token, public_url="http://t", timeout=5, max_retries=0)


async def test_source_requests_and_rate_limit_waits(fake_x: tuple[FakeX, str]) -> None:
    fake, url = fake_x
    before = Scrape((await gauges.render(None, now=utcnow())).decode())
    good, wrong = _x(url, "right-token"), _x(url, "wrong-token")
    try:
        await good.resolve("alice")
        with pytest.raises(BadCredentials):
            await wrong.resolve("alice")
        reset = int((datetime.now(UTC) + timedelta(minutes=5)).timestamp())
        fake.fail_next(429, headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)})
        with pytest.raises(SourceRateLimited):
            await good.resolve("alice")
        with pytest.raises(SourceRateLimited):  # held back: no request leaves before the reset
            await good.resolve("alice")
    finally:
        await good.aclose()
        await wrong.aclose()
    after = Scrape((await gauges.render(None, now=utcnow())).decode())

    def delta(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert delta("xtrack_source_requests_total", source="x", status="200") == 1
    assert delta("xtrack_source_requests_total", source="x", status="401") == 1
    assert delta("xtrack_source_requests_total", source="x", status="429") == 1
    assert delta("xtrack_rate_limit_waits_total", source="x", reason="429") == 1
    assert delta("xtrack_rate_limit_waits_total", source="x", reason="budget") == 1
    assert fake.count("/2/users/by/username/") == 3  # the held-back call never reached the server


def _openai_app() -> Starlette:
    async def chat(request: Request) -> Response:
        return JSONResponse(
            {
                "choices": [
                    {
                        "message": {"role": "assistant", "content": "## AI news\n- chips"},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 1200, "completion_tokens": 80},
            }
        )

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])


async def test_llm_tokens_and_cost(settings: Settings) -> None:
    from xtrack.sources.base import Post

    with serve_app(_openai_app()) as url:
        llm = settings.model_copy(
            update={
                "summarizer": "openai",
                "llm_url": f"{url}/v1",
                "llm_api_key": SecretStr("sk-test-0123456789abcdef"),
                "llm_model": "metrics-model",
                "llm_prices": "metrics-model=1/2",
            }
        )
        summarizer = OpenAISummarizer(llm)
        posts = [
            Post(
                external_id=str(1_790_000_000_000_000_000 + i),
                author_username="alice",
                text=f"post {i} #AI",
                created_at=utcnow(),
                url=f"https://x.com/alice/status/{i}",
            )
            for i in range(5)
        ]
        before = Scrape((await gauges.render(None, now=utcnow())).decode())
        try:
            result = await summarizer.summarize(SummaryRequest(username="alice", posts=posts, topics=["AI"]))
        finally:
            await summarizer.aclose()
    after = Scrape((await gauges.render(None, now=utcnow())).decode())
    labels = {"summarizer": "openai", "model": "metrics-model"}
    assert (
        after.value("xtrack_llm_tokens_total", direction="input", **labels)
        - before.value("xtrack_llm_tokens_total", direction="input", **labels)
        == 1200
    )
    assert (
        after.value("xtrack_llm_tokens_total", direction="output", **labels)
        - before.value("xtrack_llm_tokens_total", direction="output", **labels)
        == 80
    )
    cost = after.value("xtrack_llm_cost_usd_total", **labels) - before.value(
        "xtrack_llm_cost_usd_total", **labels
    )
    # 1,200 input tokens at $1/M and 80 output tokens at $2/M; the same figure the summary records.
    assert cost == pytest.approx(0.00136) and result.cost == pytest.approx(0.00136)


async def test_record_delivery_counts_by_status() -> None:
    before = Scrape((await gauges.render(None, now=utcnow())).decode())
    metrics.record_delivery("SENT")
    metrics.record_delivery("SENT")
    metrics.record_delivery("FAILED")
    after = Scrape((await gauges.render(None, now=utcnow())).decode())
    sent = after.value("xtrack_notification_deliveries_total", status="SENT") - before.value(
        "xtrack_notification_deliveries_total", status="SENT"
    )
    failed = after.value("xtrack_notification_deliveries_total", status="FAILED") - before.value(
        "xtrack_notification_deliveries_total", status="FAILED"
    )
    assert (sent, failed) == (2, 1)


def test_multiprocess_mode_merges_every_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two worker processes count into PROMETHEUS_MULTIPROC_DIR; the exposition sums them."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    code = (
        "import xtrack.metrics as m; m.record_delivery('SENT');"
        " m.execution_finished(status='COMPLETED', trigger='MANUAL', seconds=1.5, posts=4)"
    )
    for _ in range(2):
        subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    import asyncio

    scraped = Scrape(asyncio.run(gauges.render(None, now=utcnow())).decode())
    assert scraped.value("xtrack_notification_deliveries_total", status="SENT") == 2
    assert scraped.value("xtrack_posts_fetched_total", trigger="MANUAL") == 8
    assert scraped.value("xtrack_execution_duration_seconds_count", trigger="MANUAL", status="COMPLETED") == 2


# Access --------------------------------------------------------------------------------------------


async def _get(
    app: object, *, client: tuple[str, int] = ("127.0.0.1", 5000), **headers: str
) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, client=client)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        return await http.get("/metrics", headers=headers)


async def test_without_a_token_only_loopback_clients_are_answered(db: Database, settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"metrics_token": None}), database=db)
    assert (await _get(app)).status_code == 200
    assert (await _get(app, client=("::1", 5000))).status_code == 200
    assert (await _get(app, client=("10.0.0.7", 5000))).status_code == 404
    assert (await _get(app, client=("192.168.1.20", 5000))).status_code == 404
    # Through a reverse proxy on the same host: the request is not the local operator's.
    assert (await _get(app, **{"X-Forwarded-For": "203.0.113.9"})).status_code == 404


async def test_with_a_token_the_bearer_is_required(db: Database, settings: Settings) -> None:
    token = "metrics-token-0123456789"
    app = create_app(settings.model_copy(update={"metrics_token": SecretStr(token)}), database=db)
    refused = await _get(app)
    assert refused.status_code == 401 and "xtrack_" not in refused.text
    assert (await _get(app, Authorization="Bearer wrong-token")).status_code == 401
    assert (await _get(app, Authorization=f"Basic {token}")).status_code == 401
    allowed = await _get(app, client=("10.0.0.7", 5000), Authorization=f"Bearer {token}")
    assert allowed.status_code == 200 and "xtrack_executions_queued" in allowed.text
    assert token not in allowed.text
