"""Playground history benchmark on PostgreSQL (a fresh database, dropped and re-created each run):

``GET /api/v1/playground/history`` latency with 100,000 playground runs across 1,000 users (80%
completed with a ~700-character summary, 10% failed with a reason, the rest queued, running or
completed with nothing new), through the real app in-process (bearer auth, the one LEFT JOIN query,
serialisation); target p99 <= 10 ms. Also times ``playground.service.history`` alone and the quota
check a new run makes (``check_quota``).

``--job-runs N`` adds N job executions (SCHEDULED/MANUAL) for the same users, interleaved with their
playground runs: the history query walks the (user_id, id) index and skips them, so this shows what
users with busy jobs cost.

    .venv/bin/python bench/bench_playground.py [--url postgresql+asyncpg://postgres@127.0.0.1:5432/xtrack_bench_playground]
        [--runs 100000] [--users 1000] [--job-runs 0] [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench.fresh_database

os.environ.setdefault("XTRACK_SECRET_KEY", "bench-secret-key-that-is-long-enough-0123456789")
os.environ.setdefault("XTRACK_LOG_LEVEL", "WARNING")

from bench.fresh_database import recreate

from xtrack import migrate
from xtrack.config import get_settings, set_settings
from xtrack.db import Database, create_engine, utcnow
from xtrack.errors import RateLimited
from xtrack.playground import history as playground_history
from xtrack.playground import service as playground_service
from xtrack.users.auth import create_api_token
from xtrack.users.models import User
from xtrack.web.app import create_app

DEFAULT_URL = os.environ.get(
    "XTRACK_BENCH_PLAYGROUND_DATABASE_URL",
    "postgresql+asyncpg://postgres@127.0.0.1:5432/xtrack_bench_playground",
)
SUMMARY = (
    "## @alice: 12 new posts, 5 on AI and chips\n\n"
    + "".join(
        f"- A point about open-weight models and HBM supply, number {i} "
        f"([post](https://x.com/alice/status/{i}))\n"
        for i in range(6)
    )
    + "\n…and 6 more posts."
)


async def load(database: Database, *, users: int, runs: int, job_runs: int) -> None:
    """Users, their playground runs (one every ``30 days / runs``, owner g % users) and summaries,
    optionally job executions interleaved with them, in a few set-based statements."""
    started = time.perf_counter()
    async with database.session() as session:
        await session.execute(
            text(
                "INSERT INTO users (email, password_hash, status, created_at, is_admin, timezone, theme) "
                "SELECT 'player' || g || '@example.com', 'x', 'ACTIVE', now(), false, 'UTC', 'system' "
                "FROM generate_series(1, :users) AS g"
            ),
            {"users": users},
        )
        total = runs + job_runs
        if job_runs:
            await session.execute(
                text(
                    "INSERT INTO jobs (user_id, x_username, frequency, topics, is_active, language,"
                    " next_run_at, created_at, updated_at) "
                    "SELECT id, 'acct' || id, 15, '[\"ai\"]'::jsonb, true, 'en', now() + interval '1 day',"
                    " now(), now() FROM users"
                )
            )
        # Rows g = 1..total in time order; ``runs`` of them, evenly spread, are playground runs.
        # Job runs are finished (one active run per job); playground runs include queued/running ones.
        await session.execute(
            text(
                "INSERT INTO job_executions (job_id, user_id, status, trigger, params, scheduled_for,"
                " created_at, queued_at, started_at, completed_at, heartbeat_at, attempt, tweets_fetched,"
                " error_kind, error_message, covered_from, covered_to, gap) "
                "SELECT CASE WHEN is_job THEN u END, u,"
                " CASE WHEN r < 100 THEN 'FAILED' WHEN NOT is_job AND r < 110 THEN 'QUEUED'"
                "      WHEN NOT is_job AND r < 120 THEN 'RUNNING' ELSE 'COMPLETED' END,"
                " CASE WHEN is_job THEN 'SCHEDULED' ELSE 'PLAYGROUND' END,"
                " jsonb_build_object('x_username', 'acct' || (g % 5000),"
                "   'topics', '[\"ai\", \"chips\"]'::jsonb, 'hours_back', 1 + g % 168, 'language', 'en'),"
                " CASE WHEN is_job THEN t END, t, t, t, t + interval '3 seconds', t, 1,"
                " CASE WHEN r < 200 THEN 0 ELSE 12 END,"
                " CASE WHEN r < 100 THEN 'source_unavailable' END,"
                " CASE WHEN r < 100 THEN '@acct' || (g % 5000) || ' is protected' END,"
                " t - (1 + g % 168) * interval '1 hour', t, false "
                "FROM generate_series(1, :total) AS g"
                " CROSS JOIN LATERAL (SELECT"
                "   1 + (g % :users) AS u,"
                # Outcome per row, mixed within each user's runs (not a function of the user).
                "   (g / :users * 37 + g) % 1000 AS r,"
                "   (CAST(g AS bigint) * :runs / :total)"
                "     = (CAST(g - 1 AS bigint) * :runs / :total) AS is_job,"
                "   now() - (:total - g) * (interval '30 days' / :total) AS t) AS x"
            ),
            {"total": total, "users": users, "runs": runs},
        )
        # Queued and running rows have not started or finished.
        await session.execute(
            text(
                "UPDATE job_executions SET completed_at = NULL, covered_from = NULL, covered_to = NULL,"
                " started_at = CASE WHEN status = 'RUNNING' THEN started_at END"
                " WHERE status IN ('QUEUED', 'RUNNING')"
            )
        )
        await session.execute(
            text(
                "INSERT INTO summaries (job_id, execution_id, user_id, is_playground, x_username, topics,"
                " hours_back, content, tweets_count, raw_data, created_at, model, input_tokens,"
                " output_tokens, cost) "
                "SELECT e.job_id, e.id, e.user_id, e.job_id IS NULL, e.params->>'x_username',"
                " e.params->'topics',"
                " CASE WHEN e.job_id IS NULL THEN (e.params->>'hours_back')::int END, :content, 12,"
                " jsonb_build_object('post_ids',"
                "   jsonb_build_array('1','2','3','4','5','6','7','8','9','10','11','12'),"
                "   'headline', '@alice: 12 new posts'),"
                " e.completed_at, 'gpt-4o-mini', 2400, 380, 0.000588 "
                "FROM job_executions AS e WHERE e.status = 'COMPLETED' AND e.tweets_fetched > 0"
            ),
            {"content": SUMMARY},
        )
    async with database.session() as session:
        counts = (
            await session.execute(
                text(
                    "SELECT count(*) FILTER (WHERE trigger = 'PLAYGROUND'),"
                    " count(*) FILTER (WHERE trigger <> 'PLAYGROUND'),"
                    " (SELECT count(*) FROM summaries) FROM job_executions"
                )
            )
        ).one()
    print(
        f"  loaded {counts[0]:,} playground runs, {counts[1]:,} job runs, {counts[2]:,} summaries "
        f"for {users:,} users in {time.perf_counter() - started:.1f} s"
    )
    async with database.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE"))


def percentiles(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000

    return {
        "p50": pct(0.50),
        "p95": pct(0.95),
        "p99": pct(0.99),
        "max": ordered[-1] * 1000,
        "mean": statistics.fmean(ordered) * 1000,
    }


def show(label: str, stats: dict[str, float]) -> None:
    print(
        f"  {label}: p50 {stats['p50']:.2f} ms, p95 {stats['p95']:.2f} ms, p99 {stats['p99']:.2f} ms, "
        f"max {stats['max']:.2f} ms, mean {stats['mean']:.2f} ms"
    )


async def measure(call: Callable[[], Awaitable[None]], *, requests: int) -> dict[str, float]:
    for _ in range(min(200, requests)):
        await call()  # warm-up: connections, prepared statements, caches
    latencies = []
    for _ in range(requests):
        began = time.perf_counter()
        await call()
        latencies.append(time.perf_counter() - began)
    return percentiles(latencies)


async def bench(database: Database, *, requests: int) -> dict[str, dict[str, float]]:
    settings = get_settings()
    set_settings(settings)
    app = create_app(settings, database=database)
    async with database.session() as session:
        users = list(await session.scalars(text("SELECT id FROM users ORDER BY id")))
        max_id = int(await session.scalar(text("SELECT max(id) FROM job_executions")) or 0)
        tokens: dict[int, dict[str, str]] = {}
        for user_id in users:
            user = await session.get(User, user_id)
            assert user is not None
            _token, plain = await create_api_token(session, user=user, name="bench", now=utcnow())
            tokens[user_id] = {"Authorization": f"Bearer {plain}"}
        sample = await session.get(User, users[len(users) // 2])
        assert sample is not None
        plan = await session.execute(
            text(
                "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) "
                + str(
                    playground_history._runs_query(sample.id)
                    .order_by(text("job_executions.id DESC"))
                    .limit(21)
                    .compile(dialect=database.engine.dialect, compile_kwargs={"literal_binds": True})
                )
            )
        )
        print("  query plan (first page of one user):")
        for (line,) in plan:
            print(f"    {line}")

    rand = random.Random(7)
    results: dict[str, dict[str, float]] = {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

        async def endpoint() -> None:
            user_id = rand.choice(users)
            params: dict[str, int] = {}
            kind = rand.random()
            if kind < 0.3:
                params["before"] = rand.randint(1, max_id)  # a deeper keyset page
            elif kind > 0.9:
                params["limit"] = 100
            response = await client.get("/api/v1/playground/history", params=params, headers=tokens[user_id])
            assert response.status_code == 200, response.text

        # Every token once first: a token's last_used_at is written at most once a minute, so in
        # steady use almost no request writes; the measured requests then see that steady state.
        for user_id in users:
            await client.get("/api/v1/playground/history", params={"limit": 1}, headers=tokens[user_id])
        results["endpoint"] = await measure(endpoint, requests=requests)
        show(
            "GET /api/v1/playground/history (60% first page, 30% keyset page, 10% limit=100)",
            results["endpoint"],
        )

        async def baseline() -> None:
            response = await client.get("/api/v1/me", headers=tokens[rand.choice(users)])
            assert response.status_code == 200, response.text

        # The same app, auth and unit of work with a one-row read: what any API call costs here.
        results["baseline"] = await measure(baseline, requests=requests)
        show("GET /api/v1/me (baseline: bearer auth, one row)", results["baseline"])

    async with database.session() as session:
        people: dict[int, User] = {}
        for user_id in users:
            found = await session.get(User, user_id)
            assert found is not None
            people[user_id] = found

        async def service() -> None:
            page = await playground_history.history(session, user=people[rand.choice(users)])
            assert page.items

        results["service"] = await measure(service, requests=requests)
        show("playground.service.history (first page of 20, one query)", results["service"])

        async def quota() -> None:
            async with session.begin_nested() as savepoint:
                with contextlib.suppress(RateLimited):
                    await playground_service.check_quota(
                        session, user_id=rand.choice(users), settings=settings, now=utcnow()
                    )
                await savepoint.rollback()

        results["quota"] = await measure(quota, requests=requests)
        show("playground.service.check_quota (row lock + 2 counts)", results["quota"])
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--url", default=DEFAULT_URL, help="PostgreSQL URL; the database is dropped and re-created"
    )
    parser.add_argument("--runs", type=int, default=100_000, help="playground runs")
    parser.add_argument("--users", type=int, default=1_000, help="users the runs are spread over")
    parser.add_argument(
        "--job-runs", type=int, default=0, help="job executions of the same users, interleaved"
    )
    parser.add_argument("--requests", type=int, default=2_000, help="measured calls per measurement")
    args = parser.parse_args()
    if not args.url.startswith("postgresql"):
        parser.error("the playground benchmark runs on PostgreSQL")

    print(f"machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    await recreate(args.url)
    await asyncio.to_thread(migrate.upgrade, args.url)
    database = Database(create_engine(args.url, pool_size=5))
    async with database.engine.connect() as conn:
        version = await conn.scalar(text("SHOW server_version"))
    print(f"PostgreSQL {version}")
    try:
        print(
            f"playground history, {args.runs:,} runs over {args.users:,} users"
            + (f" + {args.job_runs:,} job runs" if args.job_runs else "")
            + ":"
        )
        await load(database, users=args.users, runs=args.runs, job_runs=args.job_runs)
        results = await bench(database, requests=args.requests)
        p99 = results["endpoint"]["p99"]
        print(f"  => endpoint p99 {p99:.2f} ms (target <= 10 ms: {'OK' if p99 <= 10.0 else 'OVER TARGET'})")
    finally:
        await database.dispose()


if __name__ == "__main__":
    asyncio.run(main())
