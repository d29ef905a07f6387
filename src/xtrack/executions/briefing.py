"""A run over its accounts: each one read through the shared fetch (``posts.refresh``), its posts
filtered, the whole set folded into one summary request. An account that fails is skipped with a
warning; the run fails only when every account failed (then with the first account's error, so a
single-account job fails exactly as it always did).

Pure parts (``account_warning``, ``failure_streaks``) take data and return decisions."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from xtrack.db import Database
from xtrack.executions.inputs import RunInputs
from xtrack.jobs.filters import apply_filters, filters_of
from xtrack.posts import refresh as posts_refresh
from xtrack.posts import store as posts_store
from xtrack.posts.accounts import AccountSnapshot
from xtrack.posts.fetch import Clock
from xtrack.sources.base import (
    AccountNotFound,
    AccountUnavailable,
    BadCredentials,
    Post,
    Source,
    SourceError,
    SourceRateLimited,
)
from xtrack.summarize.briefing import fold_reposts

# Accounts of one run read at once: enough to overlap upstream latency, few enough to share the
# database pool with the other runs of a burst.
ACCOUNT_CONCURRENCY = 8
# After this many runs in a row with the same account failing, the owner is told (once).
ACCOUNT_FAILURE_NOTICE = 3


@dataclass(frozen=True, slots=True)
class AccountRead:
    """One account of a run: its new posts, or why it was skipped."""

    username: str
    posts: list[Post] = field(default_factory=list)
    kept: list[Post] = field(default_factory=list)
    error: SourceError | None = None
    snapshot: AccountSnapshot | None = None
    cursor_created_at: datetime | None = None

    def counts(self) -> dict[str, Any]:
        """The execution's per-account record (``job_executions.accounts``)."""
        return {
            "username": self.username,
            "posts_fetched": len(self.posts),
            "posts_kept": len(self.kept),
            "error": None if self.error is None else account_warning(self.username, self.error),
        }


@dataclass(frozen=True, slots=True)
class RunPosts:
    """What a run's accounts gave: every post read (the cursor moves past them), the posts the
    summarizer sees (filtered, reposts folded) and who reposted each."""

    reads: list[AccountRead]
    fetched: list[Post]
    kept: list[Post]
    reposted_by: dict[str, list[str]]

    @property
    def warnings(self) -> list[str]:
        return [account_warning(read.username, read.error) for read in self.reads if read.error is not None]

    @property
    def failed_usernames(self) -> list[str]:
        return [read.username for read in self.reads if read.error is not None]


def account_warning(username: str, error: SourceError) -> str:
    """A readable line naming the skipped account and why."""
    if isinstance(error, AccountNotFound):
        why = "it was not found"
    elif isinstance(error, AccountUnavailable):
        why = f"it is {error.state}"
    elif isinstance(error, SourceRateLimited):
        why = "the source is rate limited; it is read again next run"
    elif isinstance(error, BadCredentials):
        why = "the source refused our credentials"
    else:
        why = f"it could not be read ({error.message[:200]})"
    return f"@{username} was skipped: {why}."


async def _read_one(
    database: Database,
    source: Source,
    inputs: RunInputs,
    username: str,
    *,
    started_at: datetime,
    now: Clock,
    lease_seconds: float,
) -> AccountRead:
    wanted = posts_store.PostsWanted(after_post_id=inputs.cursor, since=inputs.since)
    try:
        snapshot = await posts_refresh.refresh_account(
            database,
            source,
            username=username,
            need_since=inputs.need_since,
            requested_at=started_at,
            now=now,
            wanted=wanted,
            lease_seconds=lease_seconds,
        )
    except SourceError as exc:
        return AccountRead(username=username, error=exc)
    found = snapshot.new_posts
    if found is None:  # it joined another run's fetch of the account: read them here
        async with database.session() as session:
            found = await posts_store.new_posts(session, account_id=snapshot.account_id, wanted=wanted)
    kept = apply_filters(found.posts, filters_of(inputs.filters))
    return AccountRead(
        username=username,
        posts=found.posts,
        kept=kept,
        snapshot=snapshot,
        cursor_created_at=found.cursor_created_at,
    )


async def read_accounts(
    database: Database,
    source: Source,
    inputs: RunInputs,
    *,
    started_at: datetime,
    now: Clock,
    lease_seconds: float,
) -> RunPosts:
    """Read every account of the run (``ACCOUNT_CONCURRENCY`` at a time); raises the first
    account's error when every account failed."""
    usernames = inputs.usernames
    if len(usernames) == 1:  # a single account: no task, no semaphore (the hot path)
        reads = [
            await _read_one(
                database,
                source,
                inputs,
                usernames[0],
                started_at=started_at,
                now=now,
                lease_seconds=lease_seconds,
            )
        ]
    else:
        gate = asyncio.Semaphore(ACCOUNT_CONCURRENCY)

        async def limited(username: str) -> AccountRead:
            async with gate:
                return await _read_one(
                    database,
                    source,
                    inputs,
                    username,
                    started_at=started_at,
                    now=now,
                    lease_seconds=lease_seconds,
                )

        reads = list(await asyncio.gather(*(limited(name) for name in usernames)))
    if all(read.error is not None for read in reads):
        error = reads[0].error
        assert error is not None
        raise error
    fetched = [post for read in reads for post in read.posts]
    kept = [post for read in reads for post in read.kept]
    if len(reads) == 1:
        return RunPosts(reads, fetched, kept, {})
    folded = fold_reposts(kept)
    return RunPosts(reads, fetched, folded.posts, folded.reposted_by)


def failure_streaks(
    current: Mapping[str, Any] | None, *, usernames: Sequence[str], failed: Sequence[str]
) -> tuple[dict[str, Any], list[str]]:
    """The job's per-account failure streaks after a run, and the accounts whose owner must be
    told now (their streak just reached ``ACCOUNT_FAILURE_NOTICE``; told once per streak).

    ``current`` maps a lower-case username to ``{"streak": n, "notified": bool}``."""
    failed_keys = {name.lower() for name in failed}
    streaks: dict[str, Any] = {}
    notify: list[str] = []
    for name in usernames:
        key = name.lower()
        if key not in failed_keys:
            continue  # a success (or an account no longer followed) ends the streak
        before = (current or {}).get(key) or {}
        streak = int(before.get("streak", 0)) + 1
        notified = bool(before.get("notified", False))
        if streak >= ACCOUNT_FAILURE_NOTICE and not notified:
            notify.append(name)
            notified = True
        streaks[key] = {"streak": streak, "notified": notified}
    return streaks, notify
