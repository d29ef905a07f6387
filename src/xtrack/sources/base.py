"""What every post source speaks: the Post value, the Source protocol and one error taxonomy."""

from __future__ import annotations

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
    reach back to the cursor (e.g. X's 3,200-post timeline depth)."""

    posts: list[Post]
    gap: bool = False
    requests: int = 1
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False
    # What the source's own headers said on the last response (shared via ``source_limits``).
    rate_limit_remaining: int | None = None
    rate_limit_reset_at: datetime | None = None


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
    kind = "rate_limited"
    retryable = True

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
    avoid re-reading a window the source cannot reach further back in."""

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
