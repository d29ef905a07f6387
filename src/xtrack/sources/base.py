"""What every post source speaks: the Post value, the Source protocol and one error taxonomy."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Post:
    """One post as a source returned it. ``external_id`` is the source's id: a decimal
    64-bit snowflake for every source (RSS derives it from the status URL or the date),
    so ``sort_key`` orders posts of one account and serves as the cursor."""

    external_id: str
    author_username: str
    text: str
    created_at: datetime
    url: str
    metrics: dict[str, int] = field(default_factory=dict)
    is_repost: bool = False
    is_reply: bool = False
    is_quote: bool = False
    raw: dict[str, Any] | None = None
    # A repost: ``text`` is the original's full text and this its author (``author_username`` stays
    # the account that reposted). A quote: the quoted post's full text and author.
    original_author: str | None = None
    quoted_author: str | None = None
    quoted_text: str | None = None
    # The ids of earlier versions of an edited post: the store keeps only the latest version.
    replaces: tuple[str, ...] = ()

    @property
    def sort_key(self) -> int:
        return int(self.external_id)


@dataclass(frozen=True, slots=True)
class AccountInfo:
    username: str
    external_id: str
    display_name: str | None = None


@dataclass(frozen=True, slots=True)
class FetchResult:
    """Posts newer than the cursor, oldest first not required; ``gap`` when the source could not
    reach back to the cursor (e.g. X's 3,200-post timeline depth), ``gap_note`` saying why.
    ``posts_read``: the posts the upstream returned (what pay-per-post sources bill), kept or not."""

    posts: list[Post]
    gap: bool = False
    requests: int = 1
    posts_read: int = 0
    gap_note: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False
    # What the source's own headers said on the last response (shared via ``source_limits``).
    rate_limit_remaining: int | None = None
    rate_limit_reset_at: datetime | None = None


def in_window(
    post: Post, *, floor: int | None, start_time: datetime | None, end_time: datetime | None
) -> bool:
    """Whether a post read from a timeline belongs to the fetch asked for: newer than the cursor
    (``floor``, a sort key) and inside [start_time, end_time]. Sources check it themselves even
    where the upstream applied the bounds, since a page may hold more than was asked for."""
    if floor is not None and post.sort_key <= floor:
        return False
    if start_time is not None and post.created_at < start_time:
        return False
    return end_time is None or post.created_at <= end_time


def posts_in_window(
    posts: Iterable[Post], *, floor: int | None, start_time: datetime | None, end_time: datetime | None
) -> list[Post]:
    """The posts read that belong to the fetch (``in_window``), each id once (a later read of it
    wins), oldest first: what a newest-first timeline's pages come down to."""
    kept = {
        post.external_id: post
        for post in posts
        if in_window(post, floor=floor, start_time=start_time, end_time=end_time)
    }
    return sorted(kept.values(), key=lambda p: p.sort_key)


class SourceError(Exception):
    """Base of every source failure. ``kind`` is the execution's error_kind."""

    kind = "upstream"
    retryable = True

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AccountNotFound(SourceError):
    kind = "source_not_found"
    retryable = False


class AccountUnavailable(SourceError):
    """Protected or suspended account."""

    kind = "source_unavailable"
    retryable = False

    def __init__(self, message: str, *, state: str = "suspended") -> None:
        super().__init__(message)
        self.state = state


class BadCredentials(SourceError):
    kind = "source_auth"
    retryable = False


class SourceRateLimited(SourceError):
    """``bucket``: the endpoint group whose budget is spent (X limits user lookups and timelines
    apart); ``"primary"`` is the source's main listing endpoint, whose limit every process shares."""

    kind = "rate_limited"
    retryable = True

    def __init__(self, message: str, *, reset_at: datetime, bucket: str = "primary") -> None:
        super().__init__(message)
        self.reset_at = reset_at
        self.bucket = bucket


class QuotaExhausted(SourceError):
    """The account's credits are used up (HTTP 402) or its monthly usage cap is reached: no call
    succeeds before ``reset_at`` (or before an operator tops up and resumes the source), so the
    source is paused for every job instead of retried."""

    kind = "quota_exhausted"
    retryable = False

    def __init__(self, message: str, *, reset_at: datetime) -> None:
        super().__init__(message)
        self.reset_at = reset_at


class TransientSourceError(SourceError):
    kind = "upstream"
    retryable = True


class MalformedResponse(SourceError):
    kind = "malformed_response"
    retryable = True


class RequestRejected(SourceError):
    """The upstream refused the request itself (an unexpected 4xx): retrying the same call won't help."""

    kind = "upstream"
    retryable = False


class Source(Protocol):
    """A post source. Implementations may also set ``timeline_depth: int | None``: how many of an
    account's most recent posts the source can reach at all (X: 3,200); the posts store uses it to
    avoid re-reading a window the source cannot reach further back in. And
    ``fetches_by_username: bool``: ``fetch`` needs only ``account.username`` (not the id), so the
    posts store looks a new account up beside its first fetch instead of before it."""

    name: str

    async def resolve(self, username: str) -> AccountInfo:
        """Look up an account by username (raises AccountNotFound / AccountUnavailable / ...)."""
        ...

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
        """Every post newer than ``since_id`` (exclusive), not older than ``start_time`` and, when
        given, not newer than ``end_time`` (a bounded backfill), following pagination to the end."""
        ...

    async def aclose(self) -> None: ...
