"""Claims: QUEUED -> RUNNING, and back when a run is interrupted.

A claim reads the execution (with its job and owner), decides (run, cancel, or leave it alone), and
starts it with an UPDATE fenced on (QUEUED, the attempt it read): the attempt is the run's fencing
token, and every later write of the run is fenced on (RUNNING, that attempt). Runs that start in the
same turn of the event loop (a tick's burst, a worker's messages) claim together: one read and one
``WITH claimed(...) AS (VALUES ...) UPDATE ... FROM claimed`` (see ``batching.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Integer, Table, bindparam, column, select, update, values

from xtrack import metrics
from xtrack.db import Database, JSONType, UTCDateTime, typed_param
from xtrack.executions.batching import TurnBatches
from xtrack.executions.inputs import RunInputs, job_inputs, playground_inputs
from xtrack.executions.models import ExecutionStatus, JobExecution, Trigger
from xtrack.jobs.models import Job, JobAccount
from xtrack.observability import get_logger
from xtrack.users.models import User, UserStatus

logger = get_logger("xtrack.runner")

# A claim batch is at most this many runs (the read's IN list and the UPDATE's VALUES rows).
CLAIM_BATCH_MAX = 200

EXECUTIONS = cast(Table, JobExecution.__table__)
_JOBS = cast(Table, Job.__table__)
_USERS = cast(Table, User.__table__)
_JOB_ACCOUNTS = cast(Table, JobAccount.__table__)


@dataclass(frozen=True, slots=True)
class Owner:
    """The run's owner as the claim read them: what the owner's budget needs (``budget.for_run``),
    so a run starts without reading the user again."""

    id: int
    timezone: str | None
    monthly_budget_usd: float | None
    budget_action: str


@dataclass(frozen=True, slots=True)
class Claim:
    """What the claim saw and decided: the run's inputs and its fencing token (``attempt``)."""

    execution_id: int
    attempt: int
    job_id: int | None
    user_id: int | None
    trigger: str
    started_at: datetime
    inputs: RunInputs
    owner: Owner | None = None  # None: the local operator's run, or an owner that is gone

    @property
    def is_playground(self) -> bool:
        return self.trigger == Trigger.PLAYGROUND.value

    @property
    def fence(self) -> dict[str, Any]:
        """The bind values of :func:`in_state`: this run, at the attempt its claim saw."""
        return {"run_id": self.execution_id, "seen_attempt": self.attempt}


def in_state(status: ExecutionStatus) -> Any:
    """The execution row, while it is in ``status`` at the attempt the caller saw (its fence)."""
    return (
        (EXECUTIONS.c.id == bindparam("run_id"))
        & (EXECUTIONS.c.status == status.value)
        & (EXECUTIONS.c.attempt == bindparam("seen_attempt"))
    )


# Built once with bind parameters (Core, not ORM units of work: see bench/RESULTS.md).
_CLAIM_READ = (
    select(
        EXECUTIONS.c.id,
        EXECUTIONS.c.status,
        EXECUTIONS.c.attempt,
        EXECUTIONS.c.not_before,
        EXECUTIONS.c.job_id,
        EXECUTIONS.c.user_id,
        EXECUTIONS.c.trigger,
        EXECUTIONS.c.params,
        EXECUTIONS.c.scheduled_for,
        _JOBS.c.id.label("job_found"),
        _JOBS.c.is_active,
        _JOBS.c.x_username,
        _JOBS.c.topics,
        _JOBS.c.language,
        _JOBS.c.frequency,
        _JOBS.c.last_run,
        _JOBS.c.last_post_id,
        _JOBS.c.filters,
        _USERS.c.id.label("owner_found"),
        _USERS.c.status.label("owner_status"),
        _USERS.c.timezone.label("owner_timezone"),
        _USERS.c.monthly_budget_usd.label("owner_budget_usd"),
        _USERS.c.budget_action.label("owner_budget_action"),
    )
    .select_from(
        EXECUTIONS.outerjoin(_JOBS, _JOBS.c.id == EXECUTIONS.c.job_id).outerjoin(
            _USERS, _USERS.c.id == EXECUTIONS.c.user_id
        )
    )
    .where(EXECUTIONS.c.id.in_(bindparam("execution_ids", expanding=True)))
)

# The accounts of the batch's jobs, in order (one query on job_accounts' primary key).
_BRIEFING_ACCOUNTS = (
    select(_JOB_ACCOUNTS.c.job_id, _JOB_ACCOUNTS.c.account)
    .where(_JOB_ACCOUNTS.c.job_id.in_(bindparam("job_ids", expanding=True)))
    .order_by(_JOB_ACCOUNTS.c.job_id, _JOB_ACCOUNTS.c.position)
)

_CANCEL = (
    update(EXECUTIONS)
    .where(in_state(ExecutionStatus.QUEUED))
    .values(
        status=ExecutionStatus.CANCELLED.value,
        completed_at=typed_param("at", EXECUTIONS.c.completed_at),
        error_message=bindparam("reason"),
    )
)

_RELEASE = (
    update(EXECUTIONS)
    .where(in_state(ExecutionStatus.RUNNING))
    .values(status=ExecutionStatus.QUEUED.value, queued_at=None, heartbeat_at=None)
)


def _start_claimed(claims: Sequence[tuple[int, int, dict[str, Any], datetime]]) -> Any:
    """QUEUED -> RUNNING for many executions in one statement, each fenced on the attempt its read
    saw: ``claims`` are (id, attempt, inputs snapshot, started_at); returns the ids it started."""
    claimed = (
        values(
            column("id", Integer),
            column("attempt", Integer),
            column("inputs", JSONType),
            column("at", UTCDateTime),
            name="claimed",
        )
        .data(list(claims))
        .cte("claimed")
    )
    return (
        update(EXECUTIONS)
        .where(
            EXECUTIONS.c.id == claimed.c.id,
            EXECUTIONS.c.status == ExecutionStatus.QUEUED.value,
            EXECUTIONS.c.attempt == claimed.c.attempt,
        )
        .values(
            status=ExecutionStatus.RUNNING.value,
            started_at=claimed.c.at,
            heartbeat_at=claimed.c.at,
            completed_at=None,
            params=claimed.c.inputs,
        )
        .returning(EXECUTIONS.c.id)
    )


def _owner(row: Any) -> Owner | None:
    if row.owner_found is None:
        return None
    return Owner(row.owner_found, row.owner_timezone, row.owner_budget_usd, row.owner_budget_action)


def _cancel_reason(row: Any) -> str | None:
    """Why a QUEUED run must not start any more (its job paused or gone, its owner suspended)."""
    if row.job_id is not None and (row.job_found is None or not row.is_active):
        return "Cancelled: the job was paused before this run started."
    if row.owner_status == UserStatus.SUSPENDED.value:
        return "Cancelled: the owner's account is suspended."
    return None


async def claim(database: Database, execution_id: int, *, now: datetime) -> Claim | None:
    """Claim one execution (QUEUED -> RUNNING) if it is still due; None when it is gone, not
    QUEUED, waiting for its ``not_before``, cancelled, or claimed by another run meanwhile."""
    return await _CLAIMS.submit(database, (execution_id, now))


async def release(database: Database, claim: Claim) -> None:
    """Give an interrupted run back (graceful shutdown): QUEUED again, same attempt, handed out next tick."""
    async with database.session() as session:
        await session.execute(_RELEASE, claim.fence)
    logger.info("execution.released", execution_id=claim.execution_id)


async def _give_back(database: Database, claim: Claim | None) -> None:
    if claim is not None:  # its run was cancelled while the batch was claiming
        await release(database, claim)


async def _claim_many(database: Database, wanted: Sequence[tuple[int, datetime]]) -> list[Claim | None]:
    """One read and one UPDATE for a batch of (execution id, now); one result per item."""
    # Autocommit: the read decides, and the UPDATE that acts on it is fenced on (QUEUED, attempt),
    # so the two need no transaction around them (and save its BEGIN and COMMIT round trips).
    async with database.autocommit() as connection:
        found = await connection.execute(_CLAIM_READ, {"execution_ids": [i for i, _ in wanted]})
        rows = {row.id: row for row in found}
        briefings: dict[int, list[str]] = {}
        job_ids = sorted({row.job_id for row in rows.values() if row.job_found is not None})
        if job_ids:
            for job_id, account in await connection.execute(_BRIEFING_ACCOUNTS, {"job_ids": job_ids}):
                briefings.setdefault(job_id, []).append(account)
        cancels: list[dict[str, Any]] = []
        starts: list[tuple[int, int, dict[str, Any], datetime]] = []
        prepared: dict[int, tuple[Any, RunInputs, datetime]] = {}
        for execution_id, now in wanted:
            row = rows.get(execution_id)
            if row is None:
                logger.info("execution.gone", execution_id=execution_id)
                continue
            if row.status != ExecutionStatus.QUEUED.value or row.id in prepared:
                continue  # not ours to claim, or the same id twice (a redelivered message beside it)
            if row.not_before is not None and row.not_before > now:
                continue
            reason = _cancel_reason(row)
            if reason is not None:
                cancels.append({"run_id": row.id, "seen_attempt": row.attempt, "at": now, "reason": reason})
                logger.info("execution.cancelled", execution_id=row.id, reason=reason)
                metrics.execution_finished(status=ExecutionStatus.CANCELLED.value, trigger=row.trigger)
                continue
            is_job_run = row.job_id is not None
            inputs = (
                job_inputs(row, now=now, accounts=briefings.get(row.job_id))
                if is_job_run
                else playground_inputs(row.params, now=now)
            )
            starts.append((row.id, row.attempt, inputs.params(), now))
            prepared[row.id] = (row, inputs, now)
        if cancels:
            await connection.execute(_CANCEL, cancels)
        started: set[int] = set()
        if starts:
            started = set((await connection.execute(_start_claimed(starts))).scalars())
    claims: dict[int, Claim] = {}
    for execution_id in started:
        row, inputs, now = prepared[execution_id]
        metrics.execution_started(
            trigger=row.trigger, attempt=row.attempt, scheduled_for=row.scheduled_for, started_at=now
        )
        claims[execution_id] = Claim(
            execution_id=row.id,
            attempt=row.attempt,
            job_id=row.job_id,
            user_id=row.user_id,
            trigger=row.trigger,
            started_at=now,
            inputs=inputs,
            owner=_owner(row),
        )
    # Each id's claim goes to its first occurrence; a duplicate in the same batch gets None.
    return [claims.pop(execution_id, None) for execution_id, _now in wanted]


_CLAIMS: TurnBatches[tuple[int, datetime], Claim | None] = TurnBatches(
    _claim_many, max_size=CLAIM_BATCH_MAX, abandoned=_give_back
)
