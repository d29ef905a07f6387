"""The official X API v2 (bearer token): user lookup once, then the user's timeline since a cursor."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

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
    in_window,
)
from xtrack.sources.http import Clock, RateLimit, Reply, SourceHttp
from xtrack.sources.x_posts import page_posts

TIMELINE_DEPTH = 3200  # GET /2/users/:id/tweets reaches at most the 3,200 most recent posts
PAGE_SIZE = 100
# Everything a post needs to be read whole (see x_posts): the long text, what it references,
# its links, its metrics and its edits; the referenced posts and their authors come as includes.
TWEET_FIELDS = (
    "id,text,created_at,author_id,public_metrics,referenced_tweets,conversation_id,lang,"
    "note_tweet,entities,edit_history_tweet_ids"
)
EXPANSIONS = "referenced_tweets.id,referenced_tweets.id.author_id"
# X limits the user lookup and the timelines in separate 15-minute buckets.
LOOKUP_BUCKET = "users"


def x_time(value: datetime) -> str:
    """X wants second-granularity RFC 3339 (``start_time`` is inclusive, so rounding down is safe)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def account_errors(errors: Any) -> list[Any]:
    """The ``errors`` of a page that are about the account, not about a post it references (a
    deleted or withheld original is a partial error: ``resource_type`` "tweet")."""
    if not isinstance(errors, list):
        return []
    return [
        error
        for error in errors
        if not (isinstance(error, Mapping) and error.get("resource_type") == "tweet")
    ]


def account_error(errors: Any, username: str) -> SourceError:
    """The error a 200 response's ``errors`` array stands for."""
    if not isinstance(errors, list) or not errors:
        return MalformedResponse("X answered without data or errors")
    for error in errors:
        if not isinstance(error, Mapping):
            continue
        detail = str(error.get("detail", ""))
        title = str(error.get("title", ""))
        kind = str(error.get("type", ""))
        if "suspended" in detail.lower():
            return AccountUnavailable(f"@{username} is suspended", state="suspended")
        if kind.endswith("not-authorized-for-resource") or title == "Authorization Error":
            return AccountUnavailable(f"@{username}'s posts are protected", state="protected")
        if kind.endswith("resource-not-found") or "not found" in title.lower():
            return AccountNotFound(f"@{username} does not exist on X")
    first = errors[0] if isinstance(errors[0], Mapping) else {}
    return RequestRejected(f"X refused the request: {first.get('title', 'error')}: {first.get('detail', '')}")


def timeline_page(reply: Reply, username: str) -> tuple[Mapping[str, Any], list[Any]]:
    """A timeline answer's body and its ``data`` (empty when the account has no posts in range)."""
    if reply.response.status_code == 404:
        raise AccountNotFound(f"@{username} does not exist on X")
    body = reply.json()
    if not isinstance(body, Mapping):
        raise MalformedResponse("X timeline: expected a JSON object")
    data = body.get("data")
    if data is None:
        if errors := account_errors(body.get("errors")):
            raise account_error(errors, username)
        data = []
    if not isinstance(data, list):
        raise MalformedResponse("X timeline: 'data' is not a list")
    return body, data


class XSource:
    """``GET /2/users/by/username/{username}`` once, then ``GET /2/users/{id}/tweets`` with
    ``since_id`` (exclusive), ``start_time`` and ``max_results=100``, following ``meta.next_token``
    until it is absent. Reading 3,200 posts (the timeline's depth) means older ones may be out of
    reach: the result then says ``gap``."""

    name = "x"
    timeline_depth = TIMELINE_DEPTH

    def __init__(
        self,
        *,
        base_url: str,
        bearer_token: str,
        public_url: str,
        timeout: float,
        max_retries: int,
        retry_base_seconds: float = 1.0,
        clock: Clock = utcnow,
        page_size: int = PAGE_SIZE,
        timeline_depth: int = TIMELINE_DEPTH,
        max_connections: int = 50,
    ) -> None:
        self.page_size = page_size
        self.timeline_depth = timeline_depth
        self.http = SourceHttp(
            source_name=self.name,
            label="X API",
            base_url=base_url,
            public_url=public_url,
            timeout=timeout,
            max_retries=max_retries,
            headers={"Authorization": f"Bearer {bearer_token}"},
            retry_base_seconds=retry_base_seconds,
            clock=clock,
            max_connections=max_connections,
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def resolve(self, username: str) -> AccountInfo:
        reply = await self.http.get(
            f"/2/users/by/username/{quote(username, safe='')}",
            params={"user.fields": "id,name,username,protected"},
            bucket=LOOKUP_BUCKET,
        )
        if reply.response.status_code == 404:
            raise AccountNotFound(f"@{username} does not exist on X")
        body = reply.json()
        if not isinstance(body, Mapping):
            raise MalformedResponse("X user lookup: expected a JSON object")
        user = body.get("data")
        if not isinstance(user, Mapping):
            raise account_error(body.get("errors"), username)
        if user.get("protected") is True:
            raise AccountUnavailable(f"@{username}'s posts are protected", state="protected")
        try:
            external_id = str(user["id"])
        except KeyError:
            raise MalformedResponse("X user lookup: the user has no id") from None
        name = user.get("name")
        return AccountInfo(
            username=username, external_id=external_id, display_name=str(name) if name else None
        )

    def _timeline_params(
        self, *, since_id: str | None, start_time: datetime | None, end_time: datetime | None
    ) -> tuple[dict[str, str | int], datetime | None]:
        """The timeline query for a window, and the inclusive upper bound X was asked for."""
        params: dict[str, str | int] = {
            "max_results": self.page_size,
            "tweet.fields": TWEET_FIELDS,
            "expansions": EXPANSIONS,
            "user.fields": "username",
        }
        if since_id is not None:
            params["since_id"] = since_id
        if start_time is not None:
            params["start_time"] = x_time(start_time)
        ceiling: datetime | None = None
        if end_time is not None:
            # end_time is inclusive at whole seconds: round up so the bound never cuts a post off.
            ceiling = end_time.replace(microsecond=0) + timedelta(seconds=1 if end_time.microsecond else 0)
            params["end_time"] = x_time(ceiling)
        return params, ceiling

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
        params, ceiling = self._timeline_params(since_id=since_id, start_time=start_time, end_time=end_time)
        floor = int(since_id) if since_id is not None else None
        # X's start_time is whole seconds: a post in the window's first second counts.
        second_floor = start_time.replace(microsecond=0) if start_time is not None else None
        posts: dict[str, Post] = {}
        read = requests = billed = 0
        gap = False
        limit = RateLimit(None, None)
        path = f"/2/users/{quote(account.external_id, safe='')}/tweets"
        token: str | None = None
        pages = 0
        max_pages = self.timeline_depth // self.page_size + 5
        while True:
            page_params = dict(params)
            if token is not None:
                page_params["pagination_token"] = token
            reply = await self.http.get(path, params=page_params)
            requests += reply.attempts
            limit = reply.rate_limit
            body, data = timeline_page(reply, account.username)
            read += len(data)
            # Pay-per-use bills every post returned, the included (reposted, quoted) ones too.
            includes = body.get("includes")
            billed += len(data) + (len(includes.get("tweets") or []) if isinstance(includes, Mapping) else 0)
            # A page with ``data`` may also carry ``errors`` (a referenced post deleted or
            # withheld): those posts are read from what X gave, the page is not an error.
            for post in page_posts(body, data, username=account.username):
                if in_window(post, floor=floor, start_time=second_floor, end_time=ceiling):
                    posts[post.external_id] = post
            meta = body.get("meta") or {}
            token = meta.get("next_token") if isinstance(meta, Mapping) else None
            if read >= self.timeline_depth:
                # The timeline holds no more than this: older posts back to the cursor may be missing.
                gap = True
                break
            if not token:
                break
            pages += 1
            if pages >= max_pages:
                # A timeline that keeps paging past its own depth: stop and say so rather than loop.
                gap = True
                break
        return FetchResult(
            posts=sorted(posts.values(), key=lambda p: p.sort_key),
            gap=gap,
            gap_note=(
                f"X returns only the {self.timeline_depth:,} most recent posts of an account: older ones "
                "may be missing"
                if gap
                else None
            ),
            requests=requests,
            posts_read=billed,
            rate_limit_remaining=limit.remaining,
            rate_limit_reset_at=limit.reset_at,
        )
