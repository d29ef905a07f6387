"""Bursts of playground runs against one real ``xtrack serve`` process, next to the physical floor.

The workload of issue 28: N users (new each burst, each with an API token) each POST one playground
run for an account nobody has asked for before, all at the same moment; the source is a
twitterapi.io stand-in (``user/info`` + ``advanced_search``) and the summarizer an OpenAI-compatible
stand-in, each answering after ``--delay`` seconds (``bench/burst_standins.py``, own processes,
O(1) work per request). The burst is split over ``--clients`` load-generator processes, so the
load generator does not measure itself. The bench then polls the database until every run is
final and prints:

    wall          the first POST to the last run COMPLETED (server timestamps)
    accept        POST -> 202 latency, p50/p99 (clients)
    queue         created_at -> started_at, p50/p99
    run           started_at -> completed_at, p50/p99
    calls/run     requests the stand-ins served per run, source and LLM
    RSS           the server's peak resident memory during the burst
    floor         the same upstream calls (one search, then one LLM call per run, all at once)
                  from one minimal process with one pooled client per upstream, in the same run

``--profile`` runs the server under a sampling profiler (``burst_standins.Sampler``) and prints
where its main thread spent the busy samples. ``--accept-only redis://127.0.0.1:6379/15`` measures
accepting alone: the server hands its runs to a Redis broker nobody consumes (the database is
flushed afterwards), so no run competes with the POSTs; it prints accept p50/p99 and server CPU per
POST (the broker's publish included).

    .venv/bin/python bench/bench_burst.py [--db postgresql,sqlite] [--n 40,500] [--repeat 3]
        [--delay 1.0] [--clients 4] [--url postgresql+asyncpg://postgres@127.0.0.1:5432/xtrack_bench_burst]
        [--profile] [--env XTRACK_EXECUTOR_CONCURRENCY=100 ...]

It takes several minutes (three bursts of 40 and of 500 on two databases), so ``python -m bench``
runs it with ``--n 40 --repeat 1 --db sqlite`` only (``bench/__main__.py``, about 20 s).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

os.environ.setdefault("XTRACK_SECRET_KEY", "bench-secret-key-that-is-long-enough-0123456789")
os.environ.setdefault("XTRACK_LOG_LEVEL", "WARNING")

from bench.bench_throughput import free_port, recreate  # noqa: E402
from sqlalchemy import text  # noqa: E402

STANDINS = Path(__file__).resolve().parent / "burst_standins.py"
DEFAULT_URL = os.environ.get(
    "XTRACK_BENCH_BURST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/xtrack_bench_burst"
)


def wait_port(port: int, process: subprocess.Popen[bytes], what: str, timeout: float = 90) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.1)


@contextlib.contextmanager
def process(
    args: list[str], port: int, what: str, env: dict[str, str] | None = None, keep: str | None = None
) -> Iterator[int]:
    log = (
        open(keep, "wb")  # noqa: SIM115
        if keep
        else tempfile.NamedTemporaryFile(prefix="bench-burst-", suffix=".log", delete=False)  # noqa: SIM115
    )
    child = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_port(port, child, what)
        yield child.pid
    finally:
        child.terminate()
        try:
            child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            child.kill()
        output = Path(log.name).read_text(errors="replace")
        if "Traceback" in output or "ERROR" in output:
            print(f"--- {what} log (tail) ---\n{output[-4000:]}", file=sys.stderr)
        if not keep:
            os.unlink(log.name)


def standin(delay: float) -> contextlib.AbstractContextManager[int]:
    port = free_port()
    args = [sys.executable, str(STANDINS), "--standin", str(port), str(delay)]
    return _with_port(process(args, port, "a stand-in"), port)


@contextlib.contextmanager
def _with_port(manager: contextlib.AbstractContextManager[int], port: int) -> Iterator[int]:
    with manager:
        yield port


def counts(port: int) -> dict[str, int]:
    import httpx

    return dict(httpx.get(f"http://127.0.0.1:{port}/_counts").json())


def cpu_seconds(pid: int) -> float:
    """User + system CPU the process has used (/proc/PID/stat): what a burst costs the server,
    whatever else the shared machine is doing."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def make_users(url: str, n: int, tag: str) -> list[str]:
    """N ACTIVE users with one API token each (plain tokens returned), in a few statements."""
    from xtrack.db import Database, create_engine, utcnow
    from xtrack.users.auth import API_TOKEN_PREFIX, hash_token, new_token
    from xtrack.users.models import ApiToken, User

    database = Database(create_engine(url, pool_size=1))
    now = utcnow()
    plains = [new_token(API_TOKEN_PREFIX) for _ in range(n)]
    try:
        async with database.session() as session:
            users = [
                User(email=f"burst-{tag}-{i}@example.com", password_hash="x", status="ACTIVE", created_at=now)
                for i in range(n)
            ]
            session.add_all(users)
            await session.flush()
            session.add_all(
                ApiToken(
                    user_id=user.id,
                    name="burst",
                    token_hash=hash_token(plain),
                    prefix=plain[:10],
                    created_at=now,
                )
                for user, plain in zip(users, plains, strict=True)
            )
    finally:
        await database.dispose()
    return plains


async def poll_final(url: str, ids: list[int], pid: int, timeout: float) -> tuple[list[tuple], int]:
    """Poll the database until every run is final; the rows' timestamps, and the server's peak RSS."""
    from xtrack.db import Database, create_engine

    database = Database(create_engine(url, pool_size=1))
    peak = 0
    ids_sql = ",".join(str(i) for i in ids)
    deadline = time.monotonic() + timeout
    try:
        while True:
            peak = max(peak, rss_kb(pid))
            async with database.session() as session:
                active = await session.scalar(
                    text(
                        f"SELECT count(*) FROM job_executions WHERE id IN ({ids_sql})"
                        " AND status IN ('QUEUED', 'RUNNING')"
                    )
                )
            if not active:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{active} runs still active after {timeout} s")
            await asyncio.sleep(0.1)
        async with database.session() as session:
            rows = list(
                await session.execute(
                    text(
                        "SELECT status, created_at, started_at, completed_at, error_message"
                        f" FROM job_executions WHERE id IN ({ids_sql})"
                    )
                )
            )
    finally:
        await database.dispose()
    return rows, peak


async def watch_in_flight(url: str, pid: int, seen: dict[str, int], stop: asyncio.Event) -> None:
    """While the burst runs: the most runs QUEUED or RUNNING at once (this database holds no other
    active ones), the server's RSS at that moment, and its peak RSS."""
    from xtrack.db import Database, create_engine

    database = Database(create_engine(url, pool_size=1))
    try:
        while not stop.is_set():
            async with database.session() as session:
                active = int(
                    await session.scalar(
                        text("SELECT count(*) FROM job_executions WHERE status IN ('QUEUED', 'RUNNING')")
                    )
                    or 0
                )
            rss = rss_kb(pid)
            if active > seen["in_flight"]:
                seen["in_flight"], seen["rss_at_peak"] = active, rss
            seen["peak_rss"] = max(seen["peak_rss"], rss)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.2)
    finally:
        await database.dispose()


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")


def as_utc(value: object) -> float:
    from datetime import UTC, datetime

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def fire_burst(base_url: str, tokens: list[str], tag: str, clients: int) -> tuple[float, list[list]]:
    """Split the burst over ``clients`` processes, all firing at the same wall-clock moment."""
    start_at = time.time() + 2.5 + 0.005 * len(tokens) / clients  # once every client has connected
    pairs = [(token, f"{tag}{i}") for i, token in enumerate(tokens)]
    children = []
    for k in range(clients):
        share = pairs[k::clients]
        child = subprocess.Popen(
            [sys.executable, str(STANDINS), "--fire", base_url, repr(start_at)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert child.stdin is not None
        child.stdin.write(json.dumps(share).encode())
        child.stdin.close()
        children.append(child)
    results: list[list] = []
    fired = []
    for child in children:
        assert child.stdout is not None
        fired_at, found = json.loads(child.stdout.read())
        fired.append(fired_at)
        results += found
        child.wait()
    return min(fired), results


def measure_floor(source_port: int, llm_port: int, n: int, tag: str) -> float:
    out = subprocess.run(
        [
            sys.executable,
            str(STANDINS),
            "--floor",
            f"http://127.0.0.1:{source_port}",
            f"http://127.0.0.1:{llm_port}/v1",
            str(n),
            tag,
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def server_env(url: str, source_port: int, llm_port: int, extra: dict[str, str]) -> dict[str, str]:
    return {
        **os.environ,
        "XTRACK_DATABASE_URL": url,
        "XTRACK_DATA_DIR": tempfile.mkdtemp(prefix="bench-burst-data-"),
        "XTRACK_SOURCE": "twitterapi",
        "XTRACK_TWITTERAPI_URL": f"http://127.0.0.1:{source_port}",
        "XTRACK_TWITTERAPI_KEY": "bench-key",
        "XTRACK_SUMMARIZER": "openai",
        "XTRACK_LLM_URL": f"http://127.0.0.1:{llm_port}/v1",
        "XTRACK_LLM_API_KEY": "bench-key",
        # The quotas are the only settings changed: N users each start one run per burst.
        "XTRACK_PLAYGROUND_DAILY_QUOTA": "1000",
        "XTRACK_PLAYGROUND_MAX_CONCURRENT": "100",
        "XTRACK_LOG_LEVEL": "WARNING",
        # This checkout's code (the virtualenv may hold another one); PYTHONPATH=… picks another.
        "PYTHONPATH": os.environ.get("PYTHONPATH") or str(ROOT / "src"),
        **extra,
    }


async def accept_burst(
    args: argparse.Namespace, url: str, server_port: int, pid: int, n: int, tag: str
) -> None:
    """``--accept-only``: the POSTs alone (the server hands the runs to a broker nobody consumes)."""
    tokens = await make_users(url, n, tag)
    cpu_before = cpu_seconds(pid)
    _start_at, results = await asyncio.to_thread(
        fire_burst, f"http://127.0.0.1:{server_port}", tokens, tag, args.clients
    )
    cpu = cpu_seconds(pid) - cpu_before
    accept = [took for took, _status, _id in results]
    refused = len([status for _took, status, _id in results if status != 202])
    print(
        f"  N={n} accepted alone: accept p50 {pct(accept, 0.5):.2f} s p99 {pct(accept, 0.99):.2f} s; "
        f"server CPU {1000 * cpu / n:.2f} ms per POST; {refused} not 202",
        flush=True,
    )


async def burst(
    args: argparse.Namespace, url: str, ports: tuple[int, int, int], pid: int, n: int, tag: str
) -> dict:
    server_port, source_port, llm_port = ports
    tokens = await make_users(url, n, tag)
    before = {**{f"s{k}": v for k, v in counts(source_port).items()}, **counts(llm_port)}
    if args.profile:
        os.kill(pid, signal.SIGUSR1)  # the sampler starts over: the burst, not the start-up
    cpu_before = cpu_seconds(pid)
    seen = {"in_flight": 0, "rss_at_peak": 0, "peak_rss": 0}
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_in_flight(url, pid, seen, stop))
    start_at, results = await asyncio.to_thread(
        fire_burst, f"http://127.0.0.1:{server_port}", tokens, tag, args.clients
    )
    refused = sorted({status for _took, status, _id in results if status != 202})
    accepted = [run_id for _t, status, run_id in results if status == 202]
    rows, peak = await poll_final(url, accepted, pid, timeout=600) if accepted else ([], rss_kb(pid))
    stop.set()
    await watcher
    cpu = cpu_seconds(pid) - cpu_before
    after_source, after_llm = counts(source_port), counts(llm_port)
    floor = await asyncio.to_thread(measure_floor, source_port, llm_port, n, f"f{tag}")
    failed = [row for row in rows if row.status != "COMPLETED"]
    search = after_source.get("/twitter/tweet/advanced_search", 0) - before.get(
        "s/twitter/tweet/advanced_search", 0
    )
    info = after_source.get("/twitter/user/info", 0) - before.get("s/twitter/user/info", 0)
    llm = after_llm.get("/v1/chat/completions", 0) - before.get("/v1/chat/completions", 0)
    accept = [took for took, _s, _i in results]
    queue = [as_utc(r.started_at) - as_utc(r.created_at) for r in rows if r.started_at]
    run = [as_utc(r.completed_at) - as_utc(r.started_at) for r in rows if r.started_at and r.completed_at]
    wall = max((as_utc(r.completed_at) for r in rows if r.completed_at), default=start_at) - start_at
    return {
        "n": n,
        "completed": len(rows) - len(failed),
        "refused": f"{n - len(accepted)} refused ({refused})" if refused else "",
        "failed": [row.error_message for row in failed[:3]],
        "wall": wall,
        "floor": floor,
        "ratio": wall / floor,
        "accept_p50": pct(accept, 0.5),
        "accept_p99": pct(accept, 0.99),
        "queue_p50": pct(queue, 0.5),
        "queue_p99": pct(queue, 0.99),
        "run_p50": pct(run, 0.5),
        "run_p99": pct(run, 0.99),
        "search_per_run": search / n,
        "info_per_run": info / n,
        "llm_per_run": llm / n,
        "peak_rss_mb": max(peak, seen["peak_rss"]) / 1024,
        "in_flight": seen["in_flight"],
        "rss_at_in_flight_mb": seen["rss_at_peak"] / 1024,
        "cpu_ms_per_run": 1000 * cpu / n,
    }


def show(result: dict) -> None:
    print(
        f"  N={result['n']}: wall {result['wall']:.2f} s, floor {result['floor']:.2f} s, "
        f"ratio {result['ratio']:.2f}; completed {result['completed']}/{result['n']}"
        + (f" (failed: {result['failed']})" if result["failed"] else "")
        + (f"; {result['refused']}" if result["refused"] else "")
    )
    print(
        f"    accept p50 {result['accept_p50']:.2f} s p99 {result['accept_p99']:.2f} s "
        f"({result['accept_p99'] / result['floor']:.2f}x floor); queue p50 {result['queue_p50']:.2f} s "
        f"p99 {result['queue_p99']:.2f} s; run p50 {result['run_p50']:.2f} s p99 {result['run_p99']:.2f} s"
    )
    print(
        f"    upstream calls per run: search {result['search_per_run']:.2f}, user/info "
        f"{result['info_per_run']:.2f}, LLM {result['llm_per_run']:.2f}; server peak RSS "
        f"{result['peak_rss_mb']:.0f} MB ({result['rss_at_in_flight_mb']:.0f} MB with {result['in_flight']} "
        f"runs in flight, the most at once); server CPU {result['cpu_ms_per_run']:.1f} ms per run",
        flush=True,
    )


async def run_database(args: argparse.Namespace, kind: str) -> None:
    if kind == "postgresql":
        url = args.url
        await recreate(url)
    else:
        url = f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='bench-burst-')}/xtrack.db"
    extra = dict(pair.split("=", 1) for pair in args.env)
    if args.accept_only:
        extra |= {"XTRACK_EXECUTOR": "celery", "XTRACK_BROKER_URL": args.accept_only}
    with standin(args.delay) as source_port, standin(args.delay) as llm_port:
        server_port = free_port()
        command = [sys.executable, "-m", "xtrack", "serve", "--port", str(server_port)]
        profile = None
        if args.profile:
            suffix = {"cprofile": ".prof", "statements": ".sql"}.get(args.profile, ".txt")
            profile = tempfile.mktemp(prefix="bench-burst-profile-", suffix=suffix)
            command = [
                sys.executable,
                str(STANDINS),
                "--profile",
                profile,
                "serve",
                "--port",
                str(server_port),
            ]
        env = server_env(url, source_port, llm_port, extra)
        with process(command, server_port, "xtrack serve", env, keep=args.log) as pid:
            print(
                f"{kind}: xtrack serve ({env['PYTHONPATH']}) pid {pid}, delay {args.delay:g} s, "
                f"{args.clients} client processes",
                flush=True,
            )
            for n in args.n:
                if args.accept_only:
                    for round_number in range(args.repeat):
                        await accept_burst(args, url, server_port, pid, n, f"a{round_number}n{n}u")
                    continue
                best = None
                for round_number in range(args.repeat):
                    result = await burst(
                        args, url, (server_port, source_port, llm_port), pid, n, f"r{round_number}n{n}u"
                    )
                    show(result)
                    if best is None or result["ratio"] < best["ratio"]:
                        best = result
                if best is not None and args.repeat > 1:
                    print(f"  => best of {args.repeat}, N={n}: ratio {best['ratio']:.2f}", flush=True)
        if profile is not None:
            with contextlib.suppress(FileNotFoundError):
                print(Path(profile).read_text())
    if args.accept_only:
        import redis

        redis.Redis.from_url(args.accept_only).flushdb()  # the runs nobody was going to take


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--url", default=DEFAULT_URL, help="PostgreSQL URL; the database is dropped and re-created"
    )
    parser.add_argument(
        "--db", default="postgresql,sqlite", help="postgresql, sqlite or both (comma-separated)"
    )
    parser.add_argument("--n", default="40,500", help="burst sizes (comma-separated)")
    parser.add_argument("--repeat", type=int, default=3, help="bursts of each size")
    parser.add_argument("--delay", type=float, default=1.0, help="seconds each stand-in takes to answer")
    parser.add_argument("--clients", type=int, default=4, help="load-generator processes")
    parser.add_argument(
        "--profile",
        nargs="?",
        const="sample",
        choices=["sample", "cprofile", "statements"],
        help="sample the server's main thread (biased toward calls that release the GIL), cProfile it, "
        "or count its SQL statements",
    )
    parser.add_argument(
        "--accept-only",
        metavar="BROKER",
        help="measure accepting alone: the server hands its runs to this Redis broker, which nobody "
        "consumes, so no run competes with the POSTs (e.g. redis://127.0.0.1:6379/15; flushed after)",
    )
    parser.add_argument("--log", help="keep the server's output in this file")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server (repeatable)")
    args = parser.parse_args()
    args.n = [int(part) for part in args.n.split(",")]
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    for kind in args.db.split(","):
        await run_database(args, kind)


if __name__ == "__main__":
    began = time.perf_counter()
    asyncio.run(main())
    print(f"done in {time.perf_counter() - began:.0f} s")
