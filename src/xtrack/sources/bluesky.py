"""Bluesky through a public AppView (no key): ``app.bsky.actor.getProfile`` once, then
``app.bsky.feed.getAuthorFeed`` from the newest item back to the cursor, page by page.

The feed is ordered by each item's time (a post's, or a repost's), newest first, and its own
``cursor`` pages back. Reading stops once an item is older than the cursor's time (or than
``start_time``) by more than ``sources.ids.FEED_CLOCK_SKEW``: a post's record key (a TID, the key
XTrack orders by: see ``bluesky_posts``) and the time the AppView sorts it by come from different
clocks, so the margin keeps a post the feed placed a little out of order from being missed. Items
at or below the cursor are read but not returned."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from xtrack.db import utcnow
from xtrack.sources.base import (
    AccountInfo,
    AccountNotFound,
    AccountUnavailable,
    FetchResult,
    MalformedResponse,
    Post,
    RequestRejected,
    SourceError,
    posts_in_window,
)
from xtrack.sources.bluesky_posts import join_threads, parse_item
from xtrack.sources.http import Clock, RateLimit, Reply, SourceHttp
from xtrack.sources.ids import stop_reading_before

DEFAULT_API_URL = "https://public.api.bsky.app"
PAGE_SIZE = 100  # the lexicon's maximum ``limit``
MAX_PAGES = 100
# The AppView limits every call of a client in one budget (per IP), so profiles and feeds share the
# primary bucket, the one every process reads from ``source_limits``.
LOOKUP_BUCKET = "primary"
# The AppView's ``error`` names (XRPC error bodies: {"error": name, "message": text}).
_NOT_FOUND = frozenset({"NotFound", "ProfileNotFound", "ActorNotFound"})
_SUSPENDED = frozenset({"AccountTakedown", "RepoTakendown", "AccountSuspended", "RepoSuspended"})
_DEACTIVATED = frozenset({"AccountDeactivated", "RepoDeactivated"})
_BLOCKED = frozenset({"BlockedActor", "BlockedByActor"})


def xrpc_error(reply: Reply, handle: str) -> SourceError:
    """The error a non-2xx XRPC answer stands for (400 carries the error's name in its body)."""
    try:
        body = reply.response.json()
    except ValueError:
        body = {}
    name = str(body.get("error", "")) if isinstance(body, Mapping) else ""
    message = str(body.get("message", "")) if isinstance(body, Mapping) else ""
    lowered = message.lower()
    if name in _SUSPENDED or "suspended" in lowered or "takedown" in lowered or "taken down" in lowered:
        return AccountUnavailable(f"@{handle} is suspended on Bluesky", state="suspended")
    if name in _DEACTIVATED or "deactivated" in lowered:
        return AccountUnavailable(f"@{handle} is deactivated on Bluesky", state="suspended")
    if name in _BLOCKED:
        return AccountUnavailable(f"@{handle} is not visible on Bluesky ({name})", state="protected")
    if name in _NOT_FOUND or reply.response.status_code == 404 or "not found" in lowered:
        return AccountNotFound(f"@{handle} does not exist on Bluesky")
    if name == "InvalidRequest" and "actor" in lowered:
        return AccountNotFound(f"@{handle} is not a Bluesky account ({message[:100]})")
    return RequestRejected(
        f"Bluesky refused the request: {name or reply.response.status_code} {message[:200]}"
    )


class BlueskySource:
    """``name`` "bluesky": its own ``source_limits`` row and its own accounts."""

    name = "bluesky"

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_API_URL,
        public_url: str,
        timeout: float,
        max_retries: int,
        retry_base_seconds: float = 1.0,
        clock: Clock = utcnow,
        page_size: int = PAGE_SIZE,
        max_pages: int = MAX_PAGES,
        max_connections: int = 50,
    ) -> None:
        self.page_size = page_size
        self.max_pages = max_pages
        self.http = SourceHttp(
            source_name=self.name,
            label="Bluesky",
            base_url=base_url,
            public_url=public_url,
            timeout=timeout,
            max_retries=max_retries,
            retry_base_seconds=retry_base_seconds,
            clock=clock,
            max_connections=max_connections,
            passthrough_statuses=frozenset({400, 401, 403}),
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _xrpc(self, method: str, params: dict[str, str | int], handle: str, bucket: str) -> Reply:
        reply = await self.http.get(f"/xrpc/{method}", params=params, bucket=bucket)
        if reply.response.status_code >= 400:
            raise xrpc_error(reply, handle)
        return reply

    async def resolve(self, username: str) -> AccountInfo:
        reply = await self._xrpc("app.bsky.actor.getProfile", {"actor": username}, username, LOOKUP_BUCKET)
        body = reply.json()
        if not isinstance(body, Mapping) or not isinstance(body.get("did"), str):
            raise MalformedResponse("Bluesky getProfile: expected a profile with a did")
        labels = body.get("labels") or []
        if any(isinstance(label, Mapping) and label.get("val") == "!takedown" for label in labels):
            raise AccountUnavailable(f"@{username} is suspended on Bluesky", state="suspended")
        name = body.get("displayName")
        return AccountInfo(
            username=username, external_id=str(body["did"]), display_name=str(name)[:100] if name else None
        )

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
        floor = int(since_id) if since_id is not None else None
        stop_before = stop_reading_before(floor, start_time)
        actor = account.external_id or account.username
        params: dict[str, str | int] = {
            "actor": actor,
            "limit": self.page_size,
            "filter": "posts_with_replies",
        }
        read: list[Post] = []
        requests = pages = 0
        limit = RateLimit(None, None)
        gap = False
        while True:
            reply = await self._xrpc("app.bsky.feed.getAuthorFeed", params, account.username, "primary")
            requests += reply.attempts
            limit = reply.rate_limit
            feed, cursor = _page(reply)
            items = [parse_item(item, username=account.username) for item in feed]
            read.extend(items)
            pages += 1
            oldest = min((post.created_at for post in items), default=None)
            if (
                not cursor
                or not items
                or (stop_before is not None and oldest is not None and oldest < stop_before)
            ):
                break
            if pages >= self.max_pages:
                gap = True
                break
            params = {**params, "cursor": cursor}
        kept = posts_in_window(read, floor=floor, start_time=start_time, end_time=end_time)
        posts = join_threads(kept, author_did=account.external_id or None)
        return FetchResult(
            posts=sorted(posts, key=lambda p: p.sort_key),
            gap=gap,
            gap_note=f"Bluesky: stopped after {pages} pages of the feed; older posts may be missing"
            if gap
            else None,
            requests=requests,
            posts_read=len(read),
            rate_limit_remaining=limit.remaining,
            rate_limit_reset_at=limit.reset_at,
        )


def _page(reply: Reply) -> tuple[list[Any], str | None]:
    body = reply.json()
    if not isinstance(body, Mapping) or not isinstance(body.get("feed"), list):
        raise MalformedResponse("Bluesky getAuthorFeed: expected an object with a 'feed' list")
    cursor = body.get("cursor")
    return list(body["feed"]), str(cursor) if cursor else None
