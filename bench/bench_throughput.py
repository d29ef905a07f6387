"""Execution throughput on PostgreSQL (a fresh database, dropped and re-created each scenario):

(a) executions/s end to end: N jobs due, ONE scheduler tick, measured until every execution is
    COMPLETED (claim, fetch from a zero-latency fake X over real HTTP, store posts, select,
    summarize, commit). With the LOCAL executor (in this process; target >= 200/s) and, beside
    it, with the CELERY executor (one ``xtrack worker`` process, Redis broker).
(b) 500 executions in flight at once in ONE ``xtrack worker`` process (threads pool, concurrency
    and HTTP pool sized to 500), accounts already resolved, one fetch each from a fake X that takes
    1 s to answer: target <= 3 s from the tick to the last COMPLETED, and RSS < 300 MB.

The fake X runs in its own process (tests/sources/fakes.py FakeX on uvicorn), so its CPU is not
counted against the runs; on this 2-core machine it still competes with them for a core.

    .venv/bin/python bench/bench_throughput.py [--url postgresql+asyncpg://postgres@127.0.0.1:5432/xtrack_bench_tp]
        [--broker redis://127.0.0.1:6379/14] [--jobs 2000] [--concurrency 100] [--inflight 500]
        [--latency 1.0] [--repeat 3] [--skip-local] [--skip-celery] [--skip-inflight]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.sources.fakes (the fake X)

os.environ.setdefault("XTRACK_SECRET_KEY", "bench-secret-key-that-is-long-enough-0123456789")
os.environ.setdefault("XTRACK_LOG_LEVEL", "WARNING")

from bench.fresh_database import recreate  # noqa: E402
from sqlalchemy import text  # noqa: E402

from xtrack.config import Settings  # noqa: E402

DEFAULT_URL = os.environ.get(
    "XTRACK_BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/xtrack_bench_tp"
)
DEFAULT_BROKER = "redis://127.0.0.1:6379/14"
FIRST_FAKE_ID = 10_001  # FakeX numbers its users from here, in the order they are added
POSTS_PER_ACCOUNT = 3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve_fake_x(port: int, accounts: int, latency: float) -> None:
    """The fake X process: ``accounts`` users acct0.. with 3 posts each in the last hours."""
    import uvicorn
    from tests.sources.fakes import FakeX

    fake = FakeX(budget=10**9)
    start = datetime.now(UTC) - timedelta(hours=3)
    for i in range(accounts):
        user = fake.add_user(f"acct{i}")
        assert user.id == str(FIRST_FAKE_ID + i)
        fake.add_posts(user, POSTS_PER_ACCOUNT, start=start, step=timedelta(minutes=20))
    fake.delay = latency
    fake.requests = _Discard()  # type: ignore[assignment]  # do not keep a record per request
    uvicorn.run(fake.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", backlog=4096)


class _Discard(list):  # type: ignore[type-arg]
    def append(self, _item: object) -> None:
        return None


@contextlib.contextmanager
def fake_x(accounts: int, latency: float) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve-fake-x", str(port), str(accounts), str(latency)], cwd=ROOT
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the fake X did not start")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


async def prepare(url: str, jobs: int) -> None:
    """A fresh database with ``jobs`` due jobs, one per account, every account already resolved."""
    from xtrack import migrate
    from xtrack.db import Database, create_engine

    await recreate(url)
    await asyncio.to_thread(migrate.upgrade, url)
    database = Database(create_engine(url, pool_size=2))
    try:
        async with database.session() as session:
            await session.execute(
                text(
                    "INSERT INTO users (email, password_hash, status, created_at, is_admin, timezone, theme) "
                    "VALUES ('bench@example.com', 'x', 'ACTIVE', now(), false, 'UTC', 'system')"
                )
            )
            await session.execute(
                text(
                    "INSERT INTO x_accounts (source, username, external_id, display_name, state, created_at) "
                    "SELECT 'x', 'acct' || g, CAST(:first + g AS text), 'Acct ' || g, 'ok', now() "
                    "FROM generate_series(0, :n - 1) AS g"
                ),
                {"n": jobs, "first": FIRST_FAKE_ID},
            )
            await session.execute(
                text(
                    "INSERT INTO jobs (user_id, x_username, frequency, topics, is_active, language,"
                    " next_run_at, created_at, updated_at) "
                    "SELECT 1, 'acct' || g, 360, '[\"AI\"]'::jsonb, true, 'en',"
                    " now() - interval '1 minute', now(), now() "
                    "FROM generate_series(0, :n - 1) AS g"
                ),
                {"n": jobs},
            )
        async with database.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE"))
    finally:
        await database.dispose()


async def counts(database: object) -> dict[str, int]:
    from xtrack.db import Database

    assert isinstance(database, Database)
    async with database.session() as session:
        rows = await session.execute(text("SELECT status, count(*) FROM job_executions GROUP BY status"))
        return {str(status): int(count) for status, count in rows}


async def wait_completed(database: object, total: int, *, timeout: float, interval: float = 0.02) -> float:
    deadline = time.perf_counter() + timeout
    while True:
        found = await counts(database)
        if found.get("COMPLETED", 0) == total:
            return time.perf_counter()
        if sum(found.get(s, 0) for s in ("FAILED", "CANCELLED")):
            raise RuntimeError(f"runs failed: {found}")
        if time.perf_counter() > deadline:
            raise RuntimeError(f"timed out: {found}")
        await asyncio.sleep(interval)


def bench_settings(url: str, x_url: str, **changes: object) -> Settings:
    return Settings(
        database_url=url,
        source="x",
        x_api_url=x_url,
        x_bearer_token="good-token",  # type: ignore[arg-type]
        log_level="WARNING",
        **changes,  # type: ignore[arg-type]
    )


async def phase_seconds(database: object) -> str:
    """When the runs started and completed, in seconds after the first was queued: where the time went."""
    from xtrack.db import Database

    assert isinstance(database, Database)
    async with database.session() as session:
        row = (
            await session.execute(
                text(
                    "SELECT EXTRACT(EPOCH FROM min(started_at) - min(queued_at)),"
                    " EXTRACT(EPOCH FROM max(started_at) - min(queued_at)),"
                    " EXTRACT(EPOCH FROM min(completed_at) - min(queued_at)),"
                    " EXTRACT(EPOCH FROM max(completed_at) - min(queued_at)) FROM job_executions"
                )
            )
        ).one()
    first_start, last_start, first_done, last_done = (float(value) for value in row)
    return (
        f"started {first_start:.2f}-{last_start:.2f} s, completed {first_done:.2f}-{last_done:.2f} s"
        " after queueing"
    )


@dataclass
class Result:
    runs: int
    seconds: float
    tick_seconds: float
    phases: str = ""

    @property
    def per_second(self) -> float:
        return self.runs / self.seconds


async def run_local(url: str, x_url: str, *, jobs: int, concurrency: int) -> Result:
    """One tick hands every due job to the LocalExecutor in this process."""
    from xtrack.config import set_settings
    from xtrack.db import utcnow
    from xtrack.executions import dispatcher
    from xtrack.executions.executors.local import LocalExecutor
    from xtrack.runtime import Runtime
    from xtrack.worker import worker_pool_size

    await prepare(url, jobs)
    settings = bench_settings(
        url, x_url, executor_concurrency=concurrency, source_max_connections=concurrency
    )
    set_settings(settings)
    runtime = await Runtime.open(settings, pool_size=worker_pool_size(concurrency), runs=True)
    database = runtime.database
    executor = LocalExecutor(concurrency=concurrency, run=runtime.run, database=database)
    try:
        async with database.engine.connect():
            pass
        started = time.perf_counter()
        tick = await dispatcher.tick(database, now=utcnow(), executor=executor, lease_seconds=60)
        tick_done = time.perf_counter()
        assert len(tick.dispatched) == jobs, len(tick.dispatched)
        await executor.wait_idle()
        finished = await wait_completed(database, jobs, timeout=600)
        return Result(jobs, finished - started, tick_done - started)
    finally:
        await executor.stop(grace_seconds=5)
        await runtime.close()


@contextlib.contextmanager
def worker_process(url: str, x_url: str, broker: str, queue: str, *, concurrency: int) -> Iterator[int]:
    log = tempfile.NamedTemporaryFile(prefix="bench-worker-", suffix=".log", delete=False)  # noqa: SIM115
    env = {
        **os.environ,
        "XTRACK_DATABASE_URL": url,
        "XTRACK_EXECUTOR": "celery",
        "XTRACK_BROKER_URL": broker,
        "XTRACK_CELERY_QUEUE": queue,
        "XTRACK_SOURCE": "x",
        "XTRACK_X_API_URL": x_url,
        "XTRACK_X_BEARER_TOKEN": "good-token",
        "XTRACK_EXECUTOR_CONCURRENCY": str(concurrency),
        "XTRACK_SOURCE_MAX_CONNECTIONS": str(concurrency),
        # INFO, as a production worker logs (Celery's " ready." line, awaited below, is INFO).
        "XTRACK_LOG_LEVEL": "INFO",
        "XTRACK_LOG_FORMAT": "json",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "xtrack", "worker"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
    )
    try:
        deadline = time.monotonic() + 60
        while " ready." not in Path(log.name).read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start:\n{Path(log.name).read_text()[-3000:]}")
            time.sleep(0.1)
        yield process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
        output = Path(log.name).read_text(errors="replace")
        if "Traceback" in output:
            print(output[-3000:], file=sys.stderr)
        os.unlink(log.name)


def rss_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of a process in MB, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


async def run_celery(
    url: str, x_url: str, broker: str, *, jobs: int, concurrency: int
) -> tuple[Result, float, float]:
    """One tick publishes every due job to the broker; one ``xtrack worker`` process runs them."""
    from xtrack.db import Database, create_engine, utcnow
    from xtrack.executions import dispatcher
    from xtrack.executions.executors.celery import CeleryExecutor

    await prepare(url, jobs)
    queue = f"xtrack-bench-{os.getpid()}"
    settings = bench_settings(url, x_url, executor="celery", broker_url=broker, celery_queue=queue)
    executor = CeleryExecutor(settings)
    database = Database(create_engine(url, pool_size=2))
    try:
        with worker_process(url, x_url, broker, queue, concurrency=concurrency) as pid:
            await executor.submit([])  # connect to the broker before the clock starts
            await asyncio.to_thread(lambda: executor.app.connection_for_write().ensure_connection())
            started = time.perf_counter()
            tick = await dispatcher.tick(database, now=utcnow(), executor=executor, lease_seconds=60)
            tick_done = time.perf_counter()
            assert len(tick.dispatched) == jobs, len(tick.dispatched)
            finished = await wait_completed(database, jobs, timeout=600)
            current, peak = rss_mb(pid)
            phases = await phase_seconds(database)
        return Result(jobs, finished - started, tick_done - started, phases), current, peak
    finally:
        await executor.stop()
        await database.dispose()
        with contextlib.suppress(Exception):
            from kombu import Connection

            with Connection(broker) as connection:
                connection.default_channel.queue_delete(queue)


async def main() -> None:
    from xtrack.observability import setup_logging

    setup_logging("console", "WARNING")  # the runs in this process log as a quiet production one would
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--url", default=DEFAULT_URL, help="PostgreSQL URL; the database is dropped and re-created"
    )
    parser.add_argument("--broker", default=DEFAULT_BROKER, help="Celery broker (redis:// or amqp://)")
    parser.add_argument("--jobs", type=int, default=2000, help="(a) due jobs (one execution each)")
    parser.add_argument("--concurrency", type=int, default=100, help="(a) executions in flight per process")
    parser.add_argument("--inflight", type=int, default=500, help="(b) executions in flight in one worker")
    parser.add_argument("--latency", type=float, default=1.0, help="(b) seconds the fake X takes to answer")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of each scenario")
    parser.add_argument("--skip-local", action="store_true")
    parser.add_argument("--skip-celery", action="store_true")
    parser.add_argument("--skip-inflight", action="store_true")
    args = parser.parse_args()
    if not args.url.startswith("postgresql"):
        parser.error("the throughput benchmarks run on PostgreSQL")

    print(f"machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    if not args.skip_local or not args.skip_celery:
        with fake_x(args.jobs, 0.0) as x_url:
            if not args.skip_local:
                print(f"(a) local executor, {args.jobs:,} jobs, concurrency {args.concurrency}:")
                rates = []
                for round_number in range(args.repeat):
                    result = await run_local(args.url, x_url, jobs=args.jobs, concurrency=args.concurrency)
                    rates.append(result.per_second)
                    print(
                        f"  round {round_number + 1}: {result.runs:,} executions in {result.seconds:.2f} s "
                        f"= {result.per_second:,.0f}/s (tick {result.tick_seconds * 1000:.0f} ms)"
                    )
                verdict = "OK" if statistics.median(rates) >= 200 else "UNDER TARGET"
                print(
                    f"  => median {statistics.median(rates):,.0f} executions/s (target >= 200/s: {verdict})"
                )
            if not args.skip_celery:
                print(
                    f"(a) celery executor (1 worker process, {args.broker.split(':')[0]}),"
                    f" {args.jobs:,} jobs,"
                )
                print(f"    worker concurrency {args.concurrency}:")
                rates = []
                for round_number in range(args.repeat):
                    result, _current, peak = await run_celery(
                        args.url, x_url, args.broker, jobs=args.jobs, concurrency=args.concurrency
                    )
                    rates.append(result.per_second)
                    print(
                        f"  round {round_number + 1}: {result.runs:,} executions in {result.seconds:.2f} s "
                        f"= {result.per_second:,.0f}/s (publish {result.tick_seconds * 1000:.0f} ms, "
                        f"worker peak RSS {peak:.0f} MB)"
                    )
                print(f"  => median {statistics.median(rates):,.0f} executions/s")
    if not args.skip_inflight:
        with fake_x(args.inflight, args.latency) as x_url:
            print(
                f"(b) {args.inflight} executions in flight in one worker process "
                f"(concurrency and HTTP pool {args.inflight}), upstream latency {args.latency:g} s:"
            )
            times = []
            for round_number in range(args.repeat):
                result, current, peak = await run_celery(
                    args.url, x_url, args.broker, jobs=args.inflight, concurrency=args.inflight
                )
                times.append(result.seconds)
                print(
                    f"  round {round_number + 1}: {result.runs} executions in {result.seconds:.2f} s "
                    f"(publish {result.tick_seconds * 1000:.0f} ms), worker RSS {current:.0f} MB "
                    f"(peak {peak:.0f} MB)"
                )
                print(f"    {result.phases}")
                ok = result.seconds <= 3.0 and peak < 300
                print(f"  => {'OK' if ok else 'OVER TARGET'} (targets <= 3 s, < 300 MB)")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--serve-fake-x":
        serve_fake_x(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
    else:
        began = time.perf_counter()
        asyncio.run(main())
        print(f"done in {time.perf_counter() - began:.0f} s")
