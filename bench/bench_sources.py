"""Posts store benchmark: how many posts are read from the source per new post stored when many
runs need the same accounts at once, and how fast posts are stored, on PostgreSQL.

A zero-latency fake X API v2 (the test suite's fake, in its own process so it does not share the
client's interpreter) serves ``--accounts`` accounts. Each round, every account is needed by
``--needs`` concurrent ``refresh_account()`` calls (as if that many jobs and playground runs followed
it), spread over ``--processes`` independent Database + source pairs (separate connection pools and
HTTP clients: they coordinate only through the database, like separate workers):

1. first fetch: ``--posts`` posts per account in the last 24 hours;
2. incremental: ``--new-posts`` more per account;
3. nothing new.

Target: posts read per new post stored <= 1.01.

    .venv/bin/python -m bench.bench_sources [--url postgresql+asyncpg://postgres@127.0.0.1:5432/xtrack_bench_sources]
        [--accounts 100] [--needs 50] [--posts 200] [--new-posts 20] [--processes 1 4]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the fake X lives in the test suite

os.environ.setdefault("XTRACK_LOG_LEVEL", "WARNING")

from bench.fresh_database import recreate  # noqa: E402

from xtrack import migrate  # noqa: E402
from xtrack.db import Database, create_engine  # noqa: E402
from xtrack.observability import setup_logging  # noqa: E402
from xtrack.posts import refresh  # noqa: E402
from xtrack.posts.models import StoredPost  # noqa: E402
from xtrack.sources.base import AccountInfo, FetchResult  # noqa: E402
from xtrack.sources.base import Post as BasePost  # noqa: E402
from xtrack.sources.ids import snowflake  # noqa: E402
from xtrack.sources.x import XSource  # noqa: E402

DEFAULT_URL = os.environ.get(
    "XTRACK_BENCH_SOURCES_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/xtrack_bench_sources"
)
TOKEN = "bench-token"
LEASE_SECONDS = 120.0


def serve_fake_x(port: int, accounts: int, posts: int) -> None:
    """The fake X in its own process, plus /_stats and /_add for the benchmark to steer it."""
    import uvicorn
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from tests.sources.fakes import FakeX

    fake = FakeX(token=TOKEN, budget=10**9)
    start = datetime.now(UTC) - timedelta(hours=23)
    users = [fake.add_user(f"acct{i:04d}") for i in range(accounts)]
    for user in users:
        fake.add_posts(user, posts, start=start, step=timedelta(hours=22) / max(posts, 1))

    async def stats(_request: Request) -> JSONResponse:
        return JSONResponse({"posts_served": fake.posts_served, "requests": len(fake.requests)})

    async def add(request: Request) -> JSONResponse:
        count = int(request.query_params["count"])
        begin = datetime.now(UTC) - timedelta(minutes=30)
        for user in users:
            fake.add_posts(user, count, start=begin, step=timedelta(minutes=25) / max(count, 1))
        return JSONResponse({"added": count * len(users)})

    fake.app.router.routes.extend([Route("/_stats", stats), Route("/_add", add, methods=["POST"])])
    uvicorn.run(fake.app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


@dataclass
class Round:
    name: str
    calls: int
    requests: int
    posts_read: int
    posts_stored: int
    seconds: float

    @property
    def read_per_stored(self) -> str:
        return f"{self.posts_read / self.posts_stored:.3f}" if self.posts_stored and self.requests else "-"

    @property
    def stored_per_second(self) -> str:
        return f"{self.posts_stored / self.seconds:,.0f}" if self.posts_stored else "-"


async def stats(control: httpx.AsyncClient) -> tuple[int, int]:
    body = (await control.get("/_stats")).json()
    return int(body["posts_served"]), int(body["requests"])


class MemorySource:
    """A source answering from memory instantly: isolates the store path (PostgreSQL) from HTTP."""

    name = "memory"
    timeline_depth = None

    def __init__(self, posts: dict[str, list[BasePost]]) -> None:
        self.posts = posts

    async def resolve(self, username: str) -> AccountInfo:
        return AccountInfo(username=username, external_id=username)

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
        return FetchResult(posts=self.posts[account.username])

    async def aclose(self) -> None:
        return None


def memory_posts(username: str, count: int, now: datetime) -> list[BasePost]:
    step = timedelta(hours=23) / count
    posts = []
    for i in range(count):
        created = (now - timedelta(hours=23) + step * i).replace(microsecond=0)
        post_id = str(snowflake(created, i))
        posts.append(
            BasePost(
                external_id=post_id,
                author_username=username,
                text=f"post {i} of @{username}: chips, markets and #AI, about as long as most posts "
                "on the timeline, a hundred and forty characters or so",
                created_at=created,
                url=f"https://x.com/{username}/status/{post_id}",
                metrics={"likes": i, "reposts": 1, "replies": 2, "quotes": 0, "views": 100 * i},
                raw={"id": post_id, "public_metrics": {"like_count": i}},
            )
        )
    return posts


async def store_only(url: str, accounts: int, posts: int, pool_size: int) -> Round:
    """Every account fetched once by a source with no network: posts stored per second."""
    requested = datetime.now(UTC)
    usernames = [f"mem{i:04d}" for i in range(accounts)]
    source = MemorySource({name: memory_posts(name, posts, requested) for name in usernames})
    database = Database(create_engine(url, pool_size=pool_size))
    try:
        started = time.perf_counter()
        snapshots = await asyncio.gather(
            *(
                refresh.refresh_account(
                    database,
                    source,
                    username=name,
                    need_since=requested - timedelta(hours=24),
                    requested_at=requested,
                    lease_seconds=LEASE_SECONDS,
                )
                for name in usernames
            )
        )
        seconds = time.perf_counter() - started
    finally:
        await database.dispose()
    stored = sum(s.posts_stored for s in snapshots)
    assert stored == accounts * posts
    return Round(f"store path only ({posts:,} posts per account, no HTTP)", accounts, 0, 0, stored, seconds)


async def run_round(
    name: str,
    pairs: list[tuple[Database, XSource]],
    usernames: list[str],
    needs: int,
    control: httpx.AsyncClient,
) -> Round:
    served_before, requests_before = await stats(control)
    requested = datetime.now(UTC)
    need_since = requested - timedelta(hours=24)
    calls = [
        refresh.refresh_account(
            database,
            source,
            username=name,
            need_since=need_since,
            requested_at=requested,
            lease_seconds=LEASE_SECONDS,
        )
        for index, name in enumerate(usernames)
        for database, source in (pairs[(index + i) % len(pairs)] for i in range(needs))
    ]
    started = time.perf_counter()
    snapshots = await asyncio.gather(*calls)
    seconds = time.perf_counter() - started
    served_after, requests_after = await stats(control)
    return Round(
        name=name,
        calls=len(calls),
        requests=requests_after - requests_before,
        posts_read=served_after - served_before,
        posts_stored=sum(s.posts_stored for s in snapshots),
        seconds=seconds,
    )


async def bench(
    url: str,
    accounts: int,
    needs: int,
    posts: int,
    new_posts: int,
    processes: int,
    port: int,
    pool_size: int = 10,
) -> list[Round]:
    await recreate(url)
    await asyncio.to_thread(migrate.upgrade, url)
    base_url = f"http://127.0.0.1:{port}"
    pairs = [
        (
            Database(create_engine(url, pool_size=pool_size)),
            XSource(
                base_url=base_url, bearer_token=TOKEN, public_url="http://bench", timeout=30, max_retries=2
            ),
        )
        for _ in range(processes)
    ]
    usernames = [f"acct{i:04d}" for i in range(accounts)]
    rounds = []
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as control:
            rounds.append(await run_round("first fetch (24 h window)", pairs, usernames, needs, control))
            await control.post("/_add", params={"count": new_posts})
            rounds.append(await run_round("incremental", pairs, usernames, needs, control))
            rounds.append(await run_round("nothing new", pairs, usernames, needs, control))
        rounds.append(await store_only(url, accounts, 1000, pool_size))
        async with pairs[0][0].session() as session:
            total = await session.scalar(select(func.count()).select_from(StoredPost))
        # (account_id, external_id) is unique, so this also says every post was stored exactly once.
        expected = accounts * (posts + new_posts) + accounts * 1000
        assert total == expected, f"stored {total} posts, expected {expected}"
    finally:
        for database, source in pairs:
            await source.aclose()
            await database.dispose()
    return rounds


def wait_for(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/_stats", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("the fake X did not start")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--needs", type=int, default=50)
    parser.add_argument("--posts", type=int, default=200)
    parser.add_argument("--new-posts", type=int, default=20)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 4])
    parser.add_argument(
        "--pool-size", type=int, default=10, help="connections per process (the app's default)"
    )
    args = parser.parse_args(argv)
    setup_logging(level="WARNING")

    print(
        f"# sources benchmark · {datetime.now(UTC):%Y-%m-%d} · {platform.node()} · "
        f"{os.cpu_count()} cores · Python {platform.python_version()}"
    )
    print(
        f"{args.accounts} accounts x {args.needs} concurrent needs each; {args.posts} posts per account, "
        f"then {args.new_posts} new; PostgreSQL {make_url(args.url).render_as_string(hide_password=True)}"
    )
    for processes in args.processes:
        from tests.fakes.server import free_port

        port = free_port()
        server = multiprocessing.get_context("spawn").Process(
            target=serve_fake_x, args=(port, args.accounts, args.posts), daemon=True
        )
        server.start()
        try:
            wait_for(port)
            rounds = asyncio.run(
                bench(
                    args.url,
                    args.accounts,
                    args.needs,
                    args.posts,
                    args.new_posts,
                    processes,
                    port,
                    args.pool_size,
                )
            )
        finally:
            server.terminate()
            server.join(10)
        print(f"\n{processes} process(es) (independent Database + source pairs):")
        print(
            "| round | refresh calls | upstream requests | posts read | new posts stored "
            "| read per stored | seconds | stored posts/s |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for r in rounds:
            print(
                f"| {r.name} | {r.calls:,} | {r.requests:,} | {r.posts_read:,} | {r.posts_stored:,} | "
                f"{r.read_per_stored} | {r.seconds:.2f} | {r.stored_per_second} |"
            )
        total_read = sum(r.posts_read for r in rounds if r.requests)
        total_stored = sum(r.posts_stored for r in rounds if r.requests)
        verdict = "OK" if total_read <= 1.01 * total_stored else "OVER TARGET"
        print(
            f"overall: {total_read:,} posts read for {total_stored:,} stored = "
            f"{total_read / total_stored:.3f} ({verdict}, target <= 1.01)"
        )


if __name__ == "__main__":
    main()
