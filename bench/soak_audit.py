"""The soak's audit, after the faults stopped and the drain ended: computed from the database and
from the stand-ins' own records (never from XTrack's logs or counters), printed as a table and
returned as a dict for the JSON file. ``docs/guarantees.md`` states each rule."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from bench.soak_standins import RecordingX, WebhookReceiver


@dataclass(frozen=True)
class Check:
    name: str
    value: float
    limit: float

    @property
    def ok(self) -> bool:
        return self.value <= self.limit


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def slot_report(
    first_slot: datetime,
    frequency: int,
    runs: list[asyncpg.Record],
    *,
    until: datetime,
) -> Counter[str]:
    """Each grid slot of one job up to ``until``: run (an execution has it), coalesced (no tick
    came between the slot and the next one: the next run, dispatched later, covers it), skipped
    because a run of the job was active (that run covers its posts), or missed."""
    step = timedelta(minutes=frequency)
    scheduled = sorted((r for r in runs if r["trigger"] == "SCHEDULED"), key=lambda r: r["scheduled_for"])
    taken = {r["scheduled_for"] for r in scheduled}
    found: Counter[str] = Counter()
    slot = first_slot
    while slot <= until:
        if slot in taken:
            found["run"] += 1
        else:
            after = next((r for r in scheduled if r["scheduled_for"] > slot), None)
            active = any(
                r["created_at"] <= slot + step and (r["completed_at"] is None or r["completed_at"] >= slot)
                for r in runs
            )
            if after is not None and after["created_at"] >= slot + step:
                found["coalesced"] += 1
            elif active:
                found["skipped_active"] += 1
            else:
                found["missed"] += 1
        slot += step
    return found


async def _executions(
    conn: asyncpg.Connection, publish_stop: datetime, first_slots: dict[int, datetime]
) -> dict[str, Any]:
    statuses = {
        r["status"]: r["n"]
        for r in await conn.fetch("SELECT status, count(*) AS n FROM job_executions GROUP BY status")
    }
    duplicates = await conn.fetchval(
        "SELECT count(*) FROM (SELECT job_id, scheduled_for FROM job_executions WHERE trigger = 'SCHEDULED' "
        "GROUP BY job_id, scheduled_for HAVING count(*) > 1) AS d"
    )
    runs: dict[int, list[asyncpg.Record]] = defaultdict(list)
    for row in await conn.fetch(
        "SELECT job_id, trigger, scheduled_for, created_at, started_at, completed_at FROM job_executions "
        "WHERE job_id IS NOT NULL"
    ):
        runs[row["job_id"]].append(row)
    slots: Counter[str] = Counter()
    for job in await conn.fetch("SELECT id, frequency FROM jobs"):
        slots += slot_report(first_slots[job["id"]], job["frequency"], runs[job["id"]], until=publish_stop)
    delays = [
        (r["started_at"] - r["scheduled_for"]).total_seconds()
        for rows in runs.values()
        for r in rows
        if r["trigger"] == "SCHEDULED" and r["started_at"] is not None
    ]
    attempts = await conn.fetchval("SELECT coalesce(sum(attempt - 1), 0) FROM job_executions")
    errors = {
        r["error_kind"]: r["n"]
        for r in await conn.fetch(
            "SELECT error_kind, count(*) AS n FROM job_executions "
            "WHERE error_kind IS NOT NULL GROUP BY error_kind"
        )
    }
    return {
        "by_status": statuses,
        "total": sum(statuses.values()),
        "not_final": statuses.get("QUEUED", 0) + statuses.get("RUNNING", 0),
        "duplicate_slots": duplicates,
        "slots": dict(slots),
        "retries": attempts,
        "last_error_kinds": errors,
        "dispatch_delay_s": {
            "p50": percentile(delays, 0.5),
            "p99": percentile(delays, 0.99),
            "n": len(delays),
        },
    }


async def _posts(conn: asyncpg.Connection, x: RecordingX, publish_stop: datetime) -> dict[str, Any]:
    published = {
        name: {post_id for post_id, created in posts if created <= publish_stop}
        for name, posts in x.published.items()
    }
    stored: dict[str, set[str]] = defaultdict(set)
    for row in await conn.fetch(
        "SELECT a.username, p.external_id FROM posts p JOIN x_accounts a ON a.id = p.account_id"
    ):
        stored[row["username"].lower()].add(row["external_id"])
    covered: dict[int, list[str]] = defaultdict(list)
    for row in await conn.fetch("SELECT job_id, raw_data FROM summaries WHERE job_id IS NOT NULL"):
        raw = row["raw_data"] if isinstance(row["raw_data"], dict) else json.loads(row["raw_data"])
        covered[row["job_id"]] += [str(i) for i in raw.get("post_ids", [])]
    lost_by_job = 0
    summarized_twice = 0
    examples: list[str] = []
    jobs = await conn.fetch("SELECT id, lower(x_username) AS account FROM jobs")
    for job in jobs:
        ids = covered[job["id"]]
        summarized_twice += len(ids) - len(set(ids))
        missing = published.get(job["account"], set()) - set(ids)
        lost_by_job += len(missing)
        if missing and len(examples) < 5:
            examples.append(f"job {job['id']} @{job['account']}: {sorted(missing)[:3]}")
    total = sum(len(ids) for ids in published.values())
    not_stored = sum(len(ids - stored[name]) for name, ids in published.items())
    served = sum(x.served.values())
    distinct = len(x.served)
    return {
        "published": total,
        "stored": sum(len(ids) for ids in stored.values()),
        "not_stored": not_stored,
        "lost_by_job": lost_by_job,
        "summarized_twice_by_a_job": summarized_twice,
        "lost_examples": examples,
        "upstream_reads": served,
        "distinct_posts_read": distinct,
        "reads_per_new_post": round(served / distinct, 4) if distinct else None,
        "posts_read_more_than_once": sum(1 for n in x.served.values() if n > 1),
        "timeline_requests": x.timeline_requests,
    }


# Faults that can stop a sender between the receiver's answer and the row marked SENT: the row's
# lease then runs out and another sender sends it again (at-least-once).
SENDER_FAULTS = {"kill_worker", "pause_worker", "unexpected_exit", "restart_postgres"}
# A copy is put down to a sender fault that happened from a little before the first receipt (the
# database already down when the send was recorded) to a notify lease after it.
FAULT_WINDOW = (-8.0, 12.0)


def duplicate_causes(receiver: WebhookReceiver, timeline: list[tuple[float, str]]) -> Counter[str]:
    """Each extra copy of a delivery by cause: the receiver was slow (the sender timed out and sent
    again), a sender was killed, paused or lost its database right after sending, or unexplained."""
    first: dict[str, float] = {}
    for receipt in sorted(receiver.receipts, key=lambda r: r.at):
        first.setdefault(receipt.key or "", receipt.at)
    faults = [at for at, fault in timeline if fault in SENDER_FAULTS]
    slow = receiver.slow_keys()
    causes: Counter[str] = Counter()
    for key, copies in receiver.keys().items():
        if copies < 2:
            continue
        at = first[key]
        if key in slow:
            cause = "receiver_timeout"
        elif any(at + FAULT_WINDOW[0] <= fault <= at + FAULT_WINDOW[1] for fault in faults):
            cause = "sender_fault"
        else:
            cause = "unexplained"
        causes[cause] += copies - 1
    return causes


async def _deliveries(
    conn: asyncpg.Connection, receiver: WebhookReceiver, timeline: list[tuple[float, str]]
) -> dict[str, Any]:
    expected = await conn.fetchval(
        "SELECT count(*) FROM summaries s JOIN job_notification_targets jt ON jt.job_id = s.job_id"
    )
    rows = await conn.fetch("SELECT id, status FROM notification_deliveries WHERE kind = 'summary'")
    keys = receiver.keys()
    lost = [r["id"] for r in rows if str(r["id"]) not in keys]
    duplicates = sum(n - 1 for n in keys.values() if n > 1)
    causes = duplicate_causes(receiver, timeline)
    return {
        "expected": expected,
        "outbox_rows": len(rows),
        "by_status": dict(Counter(r["status"] for r in rows)),
        "missing_outbox_rows": max(0, expected - len(rows)),
        "received": sum(keys.values()),
        "lost": len(lost),
        "duplicates": duplicates,
        "duplicates_by_cause": dict(causes),
        "duplicates_unexplained": causes.get("unexplained", 0),
        "without_idempotency_key": keys.get("", 0),
        "refused_while_down": receiver.refused,
    }


async def run_audit(
    database_url: str,
    *,
    x: RecordingX,
    receiver: WebhookReceiver,
    publish_stop: datetime,
    first_slots: dict[int, datetime],
    timeline: list[tuple[float, str]],
) -> dict[str, Any]:
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        return {
            "executions": await _executions(conn, publish_stop, first_slots),
            "posts": await _posts(conn, x, publish_stop),
            "deliveries": await _deliveries(conn, receiver, timeline),
        }
    finally:
        await conn.close()


def checks(report: dict[str, Any]) -> list[Check]:
    """The guarantees, as numbers that must not exceed their limit."""
    executions, posts, deliveries = report["executions"], report["posts"], report["deliveries"]
    reads = posts["reads_per_new_post"] or 0.0
    return [
        Check("duplicate executions per slot", executions["duplicate_slots"], 0),
        Check("missed slots (not coalesced, no run active)", executions["slots"].get("missed", 0), 0),
        Check("executions not final after the drain", executions["not_final"], 0),
        Check("posts published but not stored", posts["not_stored"], 0),
        Check("posts lost by a following job", posts["lost_by_job"], 0),
        Check("posts summarized twice by one job", posts["summarized_twice_by_a_job"], 0),
        Check("summaries without their outbox rows", deliveries["missing_outbox_rows"], 0),
        Check("deliveries lost", deliveries["lost"], 0),
        Check(
            "duplicate deliveries not after a receiver timeout or sender fault",
            deliveries["duplicates_unexplained"],
            0,
        ),
        Check("API answers 500", report["api"]["500"], 0),
        Check("processes that stopped by themselves with exit code 0", report["unexpected_exits_with_0"], 0),
        Check("upstream reads per new post", reads, 1.01),
    ]


def render(report: dict[str, Any]) -> str:
    executions, posts, deliveries = report["executions"], report["posts"], report["deliveries"]
    delay = executions["dispatch_delay_s"]
    lines = [
        f"{'measure':<52} {'value':>12}",
        "-" * 65,
        f"{'jobs / accounts':<52} {report['jobs']:>6} / {report['accounts']:<5}",
        f"{'executions':<52} {executions['total']:>12}",
        *(f"{'  ' + status:<52} {n:>12}" for status, n in sorted(executions["by_status"].items())),
        f"{'  automatic retries (attempts beyond the first)':<52} {executions['retries']:>12}",
        *(f"{'  slots ' + kind:<52} {n:>12}" for kind, n in sorted(executions["slots"].items())),
        f"{'dispatch delay p50 / p99 (s)':<52} {_num(delay['p50']):>5} / {_num(delay['p99']):<5}",
        f"{'posts published / stored':<52} {posts['published']:>6} / {posts['stored']:<6}",
        f"{'upstream reads / distinct posts read':<52} {posts['upstream_reads']:>6} / "
        f"{posts['distinct_posts_read']:<6}",
        f"{'deliveries expected / received':<52} {deliveries['expected']:>6} / {deliveries['received']:<6}",
        f"{'  duplicates (same idempotency key)':<52} {deliveries['duplicates']:>12}",
        f"{'  duplicates by cause':<52} {json.dumps(deliveries['duplicates_by_cause'], sort_keys=True)}",
        f"{'  refused while the receiver was down':<52} {deliveries['refused_while_down']:>12}",
        f"{'LLM calls by outcome':<52} {json.dumps(report['llm'], sort_keys=True)}",
        f"{'API answers by status':<52} {json.dumps(report['api'], sort_keys=True)}",
        f"{'faults':<52} {json.dumps(report['faults'], sort_keys=True)}",
        f"{'peak RSS (MiB)':<52} {json.dumps(report['peak_rss_mib'], sort_keys=True)}",
        f"{'process starts / exits nobody asked for (codes)':<52} "
        f"{json.dumps(report['process_starts'], sort_keys=True)} / {report['unexpected_exits']}",
        "",
        f"{'guarantee':<60} {'value':>8} {'limit':>6}",
        "-" * 80,
    ]
    for check in checks(report):
        lines.append(f"{check.name:<60} {check.value:>8g} {check.limit:>6g}  {'ok' if check.ok else 'FAIL'}")
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
