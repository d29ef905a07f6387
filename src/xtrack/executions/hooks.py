"""What happens next to a run's outcome, in the transaction that records it (the notify package
implements it; the runtime wires it into the runner and the reaper)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True, slots=True)
class CompletedRun:
    """A run that just completed: a job's, or (``job_id`` None) an owner's playground run, whose
    spend counts toward the owner's budget too; ``summary`` is the stored summary row's values
    (with its ``id``) or None when there was nothing new."""

    execution_id: int
    job_id: int | None
    summary: dict[str, Any] | None
    post_urls: Sequence[str]
    # A briefing's accounts that just failed in the third run in a row: one warning line each
    # (``executions.briefing.account_warning``); the owner is told once.
    failing_accounts: Sequence[str] = ()
    user_id: int | None = None  # the owner, whose month's spend the run added to
    # False when the owner had no budget as the run started: no budget notice can be due, so the
    # completing transaction does not read the owner (a budget set meanwhile counts from the next run).
    owner_has_budget: bool = True


@dataclass(frozen=True, slots=True)
class FailedRun:
    """A job run that failed for good (no attempts left)."""

    execution_id: int
    job_id: int
    error: str


class RunHooks(Protocol):
    """Called inside the transaction that records the outcome, so what they write commits with it."""

    async def run_completed(self, session: AsyncSession, run: CompletedRun, *, now: datetime) -> None: ...

    async def run_failed(self, session: AsyncSession, run: FailedRun, *, now: datetime) -> None: ...


class NoHooks:
    """Nothing happens next (tests, and processes without notifications)."""

    async def run_completed(self, session: AsyncSession, run: CompletedRun, *, now: datetime) -> None:
        return None

    async def run_failed(self, session: AsyncSession, run: FailedRun, *, now: datetime) -> None:
        return None
