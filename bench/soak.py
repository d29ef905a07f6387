"""Chaos soak (``make soak``, ``python -m bench.soak``): thousands of jobs for many minutes while
workers, schedulers, the broker and the database are killed, then an audit of what the database
and the stand-ins recorded (``docs/guarantees.md`` states the rules).

It starts ``xtrack web``, two ``xtrack scheduler``s and two ``xtrack worker``s (Celery) on a
PostgreSQL cluster and a redis-server of its own (``--broker amqp://...``: that RabbitMQ, with a
queue of its own and no broker restarts), an X stand-in whose accounts keep posting, an LLM
stand-in failing some calls and a webhook receiver sometimes slow or down. It only ever signals
what it started. Exit status 0 when every guarantee held."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import shutil
import signal
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

import asyncpg  # noqa: E402
import httpx  # noqa: E402
from bench.soak_audit import checks, render, run_audit  # noqa: E402
from bench.soak_services import OwnPostgres, OwnRedis, Processes  # noqa: E402
from bench.soak_standins import FlakyLLM, Publisher, RecordingX, WebhookReceiver, seed_history  # noqa: E402
from tests.fakes.server import free_port, serve_app  # noqa: E402

SECRET = "soak-secret-key-that-is-long-enough-0123456789abcdef"
LEASE_SECONDS = 10.0
LLM_TIMEOUT_SECONDS = 2.0
NOTIFY_TIMEOUT_SECONDS = 1.0


@dataclass
class Soak:
    args: argparse.Namespace
    root: Path
    rng: random.Random
    faults: dict[str, int] = field(default_factory=dict)
    timeline: list[tuple[float, str]] = field(default_factory=list)  # (unix time, fault) for the audit
    api: dict[str, int] = field(default_factory=dict)
    first_slots: dict[int, datetime] = field(default_factory=dict)
    job_ids: list[int] = field(default_factory=list)
    own_jobs: list[int] = field(default_factory=list)  # the prober's user's jobs
    token: str = ""

    def count(self, fault: str) -> None:
        self.faults[fault] = self.faults.get(fault, 0) + 1
        self.timeline.append((time.time(), fault))
        print(f"  [{time.strftime('%H:%M:%S')}] {fault}", flush=True)


def xtrack_env(soak: Soak, *, database_url: str, broker_url: str, x_url: str, llm_url: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith("XTRACK_")}
    return {
        **keep,
        "PYTHONPATH": str(ROOT / "src"),
        "XTRACK_ENV": "development",
        "XTRACK_SECRET_KEY": SECRET,
        "XTRACK_DATA_DIR": str(soak.root / "data"),
        "XTRACK_DATABASE_URL": database_url,
        "XTRACK_EXECUTOR": "celery",
        "XTRACK_BROKER_URL": broker_url,
        "XTRACK_CELERY_QUEUE": f"xtrack-soak-{os.getpid()}-{uuid.uuid4().hex[:6]}",
        "XTRACK_SOURCE": "x",
        "XTRACK_X_API_URL": x_url,
        "XTRACK_X_BEARER_TOKEN": "good-token",
        "XTRACK_SOURCE_TIMEOUT_SECONDS": "10",
        "XTRACK_SUMMARIZER": "openai",
        "XTRACK_LLM_URL": llm_url,
        "XTRACK_LLM_API_KEY": "sk-soak-0123456789abcdef",
        "XTRACK_LLM_MODEL": "gpt-4o-mini",
        "XTRACK_LLM_TIMEOUT_SECONDS": str(LLM_TIMEOUT_SECONDS),
        "XTRACK_LLM_MAX_RETRIES": "1",
        "XTRACK_LLM_RETRY_BASE_SECONDS": "0.2",
        "XTRACK_LLM_MAX_RETRY_WAIT_SECONDS": "5",
        "XTRACK_SCHEDULER_TICK_SECONDS": "1",
        "XTRACK_LEASE_SECONDS": str(LEASE_SECONDS),
        "XTRACK_EXECUTOR_CONCURRENCY": "50",
        "XTRACK_MAX_ATTEMPTS": "20",
        "XTRACK_NOTIFY_TIMEOUT_SECONDS": str(NOTIFY_TIMEOUT_SECONDS),
        "XTRACK_NOTIFY_LEASE_SECONDS": "6",
        "XTRACK_NOTIFY_RETRY_BASE_SECONDS": "2",
        "XTRACK_NOTIFY_MAX_ATTEMPTS": "50",
        "XTRACK_OUTBOUND_ALLOW_PRIVATE": "true",
        "XTRACK_MANUAL_RUN_LIMIT": "100000/hour",
        "XTRACK_ARGON2_TIME_COST": "1",
        "XTRACK_ARGON2_MEMORY_KIB": "8",
        "XTRACK_LOG_FORMAT": "json",
        "XTRACK_LOG_LEVEL": "INFO",
    }


async def seed(soak: Soak, env: dict[str, str], accounts: list[str], hook_url: str) -> None:
    """Users with a webhook target each, an API token for the prober, and the jobs: 1 to 5 minute
    frequencies (below the 15 minutes the API allows, so they are written directly), each
    account shared by several jobs, first slots spread over the first frequency."""
    os.environ.update({k: v for k, v in env.items() if k.startswith("XTRACK_")})
    from xtrack.config import get_settings
    from xtrack.db import Database, create_engine, utcnow
    from xtrack.jobs.models import Job
    from xtrack.notify import targets as notify_targets
    from xtrack.notify.models import JobNotificationTarget
    from xtrack.notify.schemas import TargetCreate
    from xtrack.users import service as users_service
    from xtrack.users.auth import create_api_token
    from xtrack.users.models import UserStatus

    settings = get_settings()
    conn = await asyncpg.connect(env["XTRACK_DATABASE_URL"].replace("+asyncpg", ""))
    try:
        # The soak's own database only: its jobs run every 1 to 5 minutes so that a 10-minute soak
        # sees several slots of each job; the schema (and the API) keep everyone else at 15 or more.
        await conn.execute("ALTER TABLE jobs DROP CONSTRAINT IF EXISTS ck_jobs_frequency_min")
    finally:
        await conn.close()
    database = Database(create_engine(env["XTRACK_DATABASE_URL"], pool_size=2))
    now = utcnow()
    users_count = max(1, soak.args.jobs // 50)
    try:
        async with database.session() as session:
            users, targets = [], []
            for i in range(users_count):
                user = await users_service.create(
                    session,
                    email=f"soak{i}@example.com",
                    password="correct horse battery",
                    status=UserStatus.ACTIVE,
                    settings=settings,
                )
                target = await notify_targets.create_target(
                    session,
                    user=user,
                    data=TargetCreate(kind="apprise", name="Soak hook", url=hook_url),
                    settings=settings,
                    now=now,
                )
                users.append(user)
                targets.append(target)
            _token, soak.token = await create_api_token(session, user=users[0], name="soak", now=now)
            jobs = []
            for i in range(soak.args.jobs):
                frequency = soak.rng.randint(1, 5)
                first = now + timedelta(seconds=5 + soak.rng.uniform(0, 60 * frequency))
                jobs.append(
                    Job(
                        user_id=users[i % users_count].id,
                        x_username=accounts[i % len(accounts)],
                        topics=["AI"],
                        frequency=frequency,
                        language="en",
                        is_active=True,
                        next_run_at=first,
                        created_at=now,
                        updated_at=now,
                    )
                )
            session.add_all(jobs)
            await session.flush()
            for i, job in enumerate(jobs):
                soak.first_slots[job.id] = job.next_run_at  # type: ignore[assignment]
                soak.job_ids.append(job.id)
                if i % users_count == 0:
                    soak.own_jobs.append(job.id)
                if i % 2 == 0:  # half the jobs send to their owner's webhook
                    session.add(JobNotificationTarget(job_id=job.id, target_id=targets[i % users_count].id))
    finally:
        await database.dispose()


async def probe_api(soak: Soak, web_url: str, stop: asyncio.Event) -> None:
    """A user clicking "Run now" and reading their job during the faults: any 500 is a bug."""
    headers = {"Authorization": f"Bearer {soak.token}"}
    async with httpx.AsyncClient(base_url=web_url, headers=headers, timeout=15) as client:
        while not stop.is_set():
            job_id = soak.rng.choice(soak.own_jobs)
            for method, path in (("POST", f"/api/v1/jobs/{job_id}/run"), ("GET", f"/api/v1/jobs/{job_id}")):
                try:
                    status = str((await client.request(method, path)).status_code)
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                soak.api[status] = soak.api.get(status, 0) + 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 2.0)


async def chaos(
    soak: Soak,
    processes: Processes,
    pg: OwnPostgres,
    redis: OwnRedis | None,
    receiver: WebhookReceiver,
    until: float,
) -> None:
    """At random intervals, one fault at a time (a pause overlaps the next ones)."""
    actions = [
        "kill_worker",
        "kill_scheduler",
        "restart_postgres",
        "pause_worker",
        "webhook_slow",
        "webhook_down",
    ]
    if redis is not None:
        actions.append("restart_broker")
    low, high = soak.args.chaos_interval
    paused: list[asyncio.Task[None]] = []
    # Each kind of fault at least once, then at random.
    order = soak.rng.sample(actions, len(actions))
    while True:
        await asyncio.sleep(soak.rng.uniform(low, high))
        if time.monotonic() >= until:
            break
        action = order.pop(0) if order else soak.rng.choice(actions)
        soak.count(action)  # before it happens: the audit compares receipts with when faults began
        if action == "kill_worker":
            await asyncio.to_thread(processes.kill, soak.rng.choice(["worker-1", "worker-2"]))
        elif action == "kill_scheduler":
            await asyncio.to_thread(processes.kill, soak.rng.choice(["scheduler-1", "scheduler-2"]))
        elif action == "restart_postgres":
            await asyncio.to_thread(pg.restart, soak.rng.uniform(1, 4))
        elif action == "restart_broker" and redis is not None:
            await asyncio.to_thread(redis.restart, soak.rng.uniform(1, 4))
        elif action == "pause_worker":
            paused.append(asyncio.create_task(pause(processes, soak.rng.choice(["worker-1", "worker-2"]))))
        elif action in ("webhook_slow", "webhook_down"):
            paused.append(asyncio.create_task(webhook_fault(receiver, action.removeprefix("webhook_"))))
    await asyncio.gather(*paused)


async def pause(processes: Processes, name: str) -> None:
    """SIGSTOP past the lease (its runs are reaped and re-run elsewhere), then SIGCONT: its late
    writes must be refused by the fences."""
    processes.signal(name, signal.SIGSTOP)
    try:
        await asyncio.sleep(LEASE_SECONDS * 1.5 + 2)
    finally:
        processes.signal(name, signal.SIGCONT)


async def webhook_fault(receiver: WebhookReceiver, mode: str) -> None:
    receiver.mode = mode
    try:
        await asyncio.sleep(5)
    finally:
        receiver.mode = "ok"


async def watch(
    soak: Soak, processes: Processes, pg: OwnPostgres, redis: OwnRedis | None, stop: asyncio.Event
) -> None:
    """Sample RSS every second; a process that died on its own (not killed by the chaos) is a finding."""
    while not stop.is_set():
        extra = pg.pids() | (redis.pids() if redis else {})
        await asyncio.to_thread(processes.sample_rss, extra)
        for name, code in await asyncio.to_thread(processes.restart_dead):
            print(
                f"  !! {name} exited by itself with {code}; restarted it, as a supervisor would", flush=True
            )
            soak.timeline.append((time.time(), "unexpected_exit"))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


async def wait_ready(processes: Processes, web_url: str, timeout: float = 90.0) -> None:
    """Until the web answers /healthz and every scheduler and worker says it is up."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            if dead := processes.dead():
                raise RuntimeError(f"{dead} exited at start: see {processes.logs}")
            logs = {
                name: (processes.logs / f"{name}.log").read_text(errors="replace")
                for name in processes.running
            }
            up = all(
                ("scheduler.started" in text) if name.startswith("scheduler") else (" ready." in text)
                for name, text in logs.items()
                if name != "web"
            )
            with contextlib.suppress(httpx.HTTPError):
                if up and (await client.get(f"{web_url}/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.3)
    raise RuntimeError(f"the processes did not start within {timeout:g} s: see {processes.logs}")


async def drain(soak: Soak, database_url: str, publish_stop: datetime, timeout: float) -> float:
    """Until every job has completed a run that started after the posts stopped (each job is made
    due once more, as "Run now" would), nothing is QUEUED or RUNNING, and no delivery is pending."""
    started = time.monotonic()
    conn_url = database_url.replace("+asyncpg", "")
    while time.monotonic() - started < timeout:
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            conn = await asyncpg.connect(conn_url)
            try:
                await conn.execute(
                    "UPDATE jobs SET next_run_at = now() WHERE next_run_at > now() AND NOT EXISTS ("
                    " SELECT 1 FROM job_executions e WHERE e.job_id = jobs.id AND e.created_at > $1"
                    " AND e.status = 'COMPLETED') AND NOT EXISTS (SELECT 1 FROM job_executions e"
                    " WHERE e.job_id = jobs.id AND e.status IN ('QUEUED', 'RUNNING'))",
                    publish_stop,
                )
                waiting = await conn.fetchval(
                    "SELECT (SELECT count(*) FROM jobs j WHERE NOT EXISTS (SELECT 1 FROM job_executions e"
                    " WHERE e.job_id = j.id AND e.created_at > $1 AND e.status = 'COMPLETED'))"
                    " + (SELECT count(*) FROM job_executions WHERE status IN ('QUEUED', 'RUNNING'))"
                    " + (SELECT count(*) FROM notification_deliveries WHERE status = 'PENDING')",
                    publish_stop,
                )
            finally:
                await conn.close()
            if waiting == 0:
                return time.monotonic() - started
        await asyncio.sleep(2)
    return time.monotonic() - started


async def main_async(args: argparse.Namespace) -> int:
    root = Path(tempfile.mkdtemp(prefix="xtrack-soak-"))
    root.chmod(0o755)
    soak = Soak(args=args, root=root, rng=random.Random(args.seed))
    (root / "logs").mkdir()
    print(
        f"soak: {args.jobs} jobs over {args.accounts} accounts, {args.minutes} min, logs in {root / 'logs'}",
        flush=True,
    )
    x = RecordingX()
    llm = FlakyLLM(failure_rate=args.llm_failure_rate, timeout_delay=LLM_TIMEOUT_SECONDS + 1, rng=soak.rng)
    receiver = WebhookReceiver(slow_seconds=NOTIFY_TIMEOUT_SECONDS * 5)
    accounts = [f"acct{i:04d}" for i in range(args.accounts)]
    users = [x.add_account(name) for name in accounts]
    seed_history(x, users, soak.rng)
    pg = OwnPostgres(root / "pg")
    redis = OwnRedis(root / "redis") if args.broker is None else None
    processes: Processes | None = None
    with contextlib.ExitStack() as stack:
        x_url = stack.enter_context(serve_app(x.app))
        llm_url = stack.enter_context(serve_app(llm.app)) + "/v1"
        hook_base = stack.enter_context(serve_app(receiver.app))
        hook_url = f"json://{hook_base.removeprefix('http://')}/hook"
        try:
            await asyncio.to_thread(pg.init)
            if redis is not None:
                redis.start()
            broker = args.broker or (redis.url if redis else "")
            env = xtrack_env(soak, database_url=pg.url, broker_url=broker, x_url=x_url, llm_url=llm_url)
            import subprocess

            subprocess.run(
                [sys.executable, "-m", "xtrack", "db", "upgrade"], env=env, check=True, capture_output=True
            )
            await seed(soak, env, accounts, hook_url)
            processes = Processes(logs=root / "logs", env=env)
            web_port = free_port()
            processes.start("web", "web", "--host", "127.0.0.1", "--port", str(web_port))
            for name in ("scheduler-1", "scheduler-2"):
                processes.start(name, "scheduler")
            for name in ("worker-1", "worker-2"):
                processes.start(name, "worker")
            await wait_ready(processes, f"http://127.0.0.1:{web_port}")
            return await run_phases(
                soak, processes, pg, redis, x, llm, receiver, users, f"http://127.0.0.1:{web_port}"
            )
        finally:
            if processes is not None:
                processes.terminate_all()
            if redis is not None:
                redis.stop()
            pg.stop("fast")
            shutil.rmtree(pg.data, ignore_errors=True)  # the logs and the report stay


async def run_phases(
    soak: Soak,
    processes: Processes,
    pg: OwnPostgres,
    redis: OwnRedis | None,
    x: RecordingX,
    llm: FlakyLLM,
    receiver: WebhookReceiver,
    users: list[Any],
    web_url: str,
) -> int:
    args = soak.args
    publisher = Publisher(x, users, posts_per_minute=args.posts_per_minute, rng=random.Random(args.seed + 1))
    publisher.burst_every_seconds = args.burst_every
    publisher.start()
    stop = asyncio.Event()
    until = time.monotonic() + args.minutes * 60
    background = [
        asyncio.create_task(watch(soak, processes, pg, redis, stop)),
        asyncio.create_task(probe_api(soak, web_url, stop)),
    ]
    started = datetime.now(UTC)
    if not args.no_chaos:
        await chaos(soak, processes, pg, redis, receiver, until)
    await asyncio.sleep(max(0.0, until - time.monotonic()))
    publisher.stopped.set()
    llm.failure_rate = 0.0  # the faults stop for the drain
    receiver.mode = "ok"
    publish_stop = datetime.now(UTC)
    print(f"load phase over after {(publish_stop - started).total_seconds():.0f} s; draining", flush=True)
    drained = await drain(soak, pg.url, publish_stop, args.drain_timeout)
    stop.set()
    await asyncio.gather(*background)
    soak.faults["bursts"] = publisher.bursts
    report = await run_audit(
        pg.url,
        x=x,
        receiver=receiver,
        publish_stop=publish_stop,
        first_slots=soak.first_slots,
        timeline=soak.timeline,
    )
    report |= {
        "started_at": started.isoformat(),
        "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} cpus, "
        f"Python {platform.python_version()}",
        "broker": "redis (own)" if redis else f"{args.broker} (shared; no broker restarts)",
        "jobs": args.jobs,
        "accounts": args.accounts,
        "minutes": args.minutes,
        "drain_seconds": round(drained, 1),
        "faults": soak.faults,
        "process_starts": processes.started,
        "unexpected_exits": processes.unexpected_exits,
        "unexpected_exits_with_0": processes.unexpected_exits.count(0),
        "llm": dict(llm.outcomes),
        "api": {"500": 0, **soak.api},
        "peak_rss_mib": {name: round(kib / 1024, 1) for name, kib in sorted(processes.peak_rss_kib.items())},
    }
    report["checks"] = [
        {"name": c.name, "value": c.value, "limit": c.limit, "ok": c.ok} for c in checks(report)
    ]
    print(render(report), flush=True)
    output = Path(args.output or soak.root / "soak.json")
    output.write_text(json.dumps(report, indent=2, default=str))
    print(f"\nJSON: {output}", flush=True)
    return 0 if all(c.ok for c in checks(report)) else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--accounts", type=int, default=None, help="followed accounts (default: jobs / 4)")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--broker", default=None, help="amqp://... to use that RabbitMQ (no broker restarts)")
    parser.add_argument("--seed", type=int, default=26)
    parser.add_argument("--posts-per-minute", type=float, default=3.0, help="per account")
    parser.add_argument(
        "--burst-every", type=float, default=30.0, help="seconds between bursts of 100+ posts"
    )
    parser.add_argument("--llm-failure-rate", type=float, default=0.15)
    parser.add_argument("--chaos-interval", type=float, nargs=2, default=(6.0, 15.0), metavar=("MIN", "MAX"))
    parser.add_argument("--drain-timeout", type=float, default=300.0)
    parser.add_argument("--no-chaos", action="store_true")
    parser.add_argument("--output", default=None, help="where the JSON report goes")
    args = parser.parse_args(argv)
    if args.accounts is None:
        args.accounts = max(1, min(500, args.jobs // 4))
    return args


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
