"""Briefing benchmark: one run of a job over ``--accounts`` accounts with ``--new-posts`` new posts
each, on PostgreSQL, against the test suite's fake X API v2 (real HTTP, in this process) with a
chosen latency per upstream request, summarized by the extractive summarizer and by the
OpenAI-compatible one against the suite's fake LLM (counting its calls: one per map chunk, plus
the merges).

Target: the run completes in under 2 s plus the upstream latency.

    .venv/bin/python -m bench.bench_briefing [--accounts 50] [--new-posts 20] [--latency 0 0.1]
        [--url postgresql+asyncpg://postgres@127.0.0.1:5432/xtrack_bench_briefing]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the fakes live in the test suite

os.environ.setdefault("XTRACK_SECRET_KEY", "bench-secret-key-that-is-long-enough-0123456789")
os.environ.setdefault("XTRACK_LOG_LEVEL", "WARNING")

from bench.bench_engine import recreate  # noqa: E402
from tests.fakes.server import serve_app  # noqa: E402
from tests.sources.fakes import FakeUser, FakeX  # noqa: E402
from tests.summarize.fakes import FakeLLM, openai_reply  # noqa: E402

from xtrack import migrate  # noqa: E402
from xtrack.config import Settings, set_settings  # noqa: E402
from xtrack.db import Database, create_engine  # noqa: E402
from xtrack.executions import service as executions_service  # noqa: E402
from xtrack.executions.heartbeat import Heartbeats  # noqa: E402
from xtrack.executions.models import JobExecution  # noqa: E402
from xtrack.executions.runner import run_execution  # noqa: E402
from xtrack.jobs import service as jobs_service  # noqa: E402
from xtrack.jobs.schemas import JobCreate  # noqa: E402
from xtrack.observability import setup_logging  # noqa: E402
from xtrack.sources.ids import snowflake  # noqa: E402
from xtrack.sources.x import XSource  # noqa: E402
from xtrack.summarize.base import Summarizer  # noqa: E402
from xtrack.summarize.extractive import ExtractiveSummarizer  # noqa: E402
from xtrack.summarize.openai import OpenAISummarizer  # noqa: E402
from xtrack.users import service as users_service  # noqa: E402

DEFAULT_URL = os.environ.get(
    "XTRACK_BENCH_BRIEFING_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/xtrack_bench_briefing"
)
CONTEXT_TOKENS = 16_000  # small enough that 1,000 posts are map-reduced


async def one_run(
    database: Database,
    settings: Settings,
    source: XSource,
    summarizer: Summarizer,
    *,
    job_id: int,
    user_id: int,
) -> tuple[float, JobExecution]:
    async with database.session() as session:
        execution = await executions_service.run_now(
            session, owner_id=user_id, job_id=job_id, now=datetime.now(UTC), executor=None
        )
        execution_id = execution.id
    started = time.perf_counter()
    await run_execution(
        execution_id,
        database=database,
        settings=settings,
        source=source,
        heartbeats=Heartbeats(auto_start=False),
        summarizer=summarizer,
    )
    seconds = time.perf_counter() - started
    async with database.session() as session:
        found = await session.get(JobExecution, execution_id)
        assert found is not None
        return seconds, found


async def bench(url: str, accounts: int, new_posts: int, latencies: list[float]) -> None:
    await recreate(url)
    await asyncio.to_thread(migrate.upgrade, url)
    database = Database(create_engine(url, pool_size=10))
    fake, llm = FakeX(budget=10**9), FakeLLM("/v1/chat/completions", openai_reply)
    users = [fake.add_user(f"brief{i:03d}") for i in range(accounts)]
    with serve_app(fake.app) as x_url, serve_app(llm.app) as llm_url:
        settings = Settings(
            database_url=url,
            source="x",
            x_api_url=x_url,
            x_bearer_token="good-token",  # type: ignore[arg-type]
            summarizer="openai",
            llm_url=f"{llm_url}/v1",
            llm_api_key="bench-key",  # type: ignore[arg-type]
            llm_context_tokens=CONTEXT_TOKENS,
            log_level="WARNING",
        )
        set_settings(settings)
        source = XSource(
            base_url=x_url, bearer_token="good-token", public_url="http://bench", timeout=30, max_retries=1
        )
        async with database.session() as session:
            owner = await users_service.create(
                session, email="bench@example.com", password="bench password 123", settings=settings
            )
            data = JobCreate(accounts=[user.username for user in users], topics=["AI", "chips"], frequency=60)
            job = await jobs_service.create(
                session, owner=owner, data=data, max_jobs=10, now=datetime.now(UTC)
            )
            job_id, user_id = job.id, owner.id
        publish(users, 2, start=datetime.now(UTC) - timedelta(hours=2))  # a first run's, then the cursor
        published = datetime.now(UTC) - timedelta(hours=1)
        await one_run(database, settings, source, ExtractiveSummarizer(), job_id=job_id, user_id=user_id)

        print(f"{accounts} accounts x {new_posts} new posts; PostgreSQL; fake X in this process")
        print(
            "| summarizer | upstream latency | requests | posts read | run seconds | LLM calls | map chunks |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|")
        for latency in latencies:
            for name in ("extractive", "openai"):
                publish(users, new_posts, start=published)
                published += timedelta(seconds=new_posts + 1)
                fake.delay = latency
                requests, served = len(fake.requests), fake.posts_served
                llm.requests.clear()
                summarizer: Summarizer = (
                    ExtractiveSummarizer() if name == "extractive" else OpenAISummarizer(settings)
                )
                seconds, run = await one_run(
                    database, settings, source, summarizer, job_id=job_id, user_id=user_id
                )
                await summarizer.aclose()
                assert run.status == "COMPLETED", run.error_message
                made, planned = map_calls(llm)
                calls = (
                    f"{len(llm.requests)} ({made} map + {len(llm.requests) - made} merge)"
                    if llm.requests
                    else "-"
                )
                print(
                    f"| {name} | {latency * 1000:.0f} ms | {len(fake.requests) - requests} | "
                    f"{fake.posts_served - served} | {seconds:.2f} | {calls} | {planned or '-'} |"
                )
        await source.aclose()
    await database.dispose()
    print(f"\n{datetime.now(UTC):%Y-%m-%d} · {os.cpu_count()} cores · Python {platform.python_version()}")


def publish(users: list[FakeUser], count: int, *, start: datetime) -> None:
    """``count`` posts per account, one a second from ``start`` (newer than the cursor), each with
    its own id (the fake's ``add_posts`` gives accounts posting at the same moments the same ids)."""
    for index, user in enumerate(users):
        for i in range(count):
            created = start + timedelta(seconds=i)
            post_id = str(snowflake(created, index))
            text = f"Post {len(user.posts)} of {user.username}: news on #AI chips, {i % 7} of 7 threads"
            user.posts.append({"id": post_id, "text": text, "created_at": created, "referenced_tweets": []})


def map_calls(llm: FakeLLM) -> tuple[int, int]:
    """(map calls made, chunks the summarizer planned): every partial prompt says "part i of n"."""
    parts = [re.search(r"part (\d+) of (\d+)", received.system) for received in llm.requests]
    planned = {int(found.group(2)) for found in parts if found}
    return sum(1 for found in parts if found), max(planned, default=0)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--new-posts", type=int, default=20)
    parser.add_argument("--latency", type=float, nargs="+", default=[0.0, 0.1])
    args = parser.parse_args()
    setup_logging("console", "WARNING")
    asyncio.run(bench(args.url, args.accounts, args.new_posts, args.latency))


if __name__ == "__main__":
    main()
