"""twitterapi.io: ``/twitter/user/info`` once, then ``/twitter/tweet/advanced_search`` with
``from:NAME include:nativeretweets since:…`` (newest first, about 20 posts a page), following
``next_cursor`` for at most ``max_pages`` billed pages: a cursor that repeats or two empty pages
that still say ``has_next_page`` stop the poll, and the result says ``gap``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
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
)
from xtrack.sources.http import Clock, RateLimit, Reply, SourceHttp
from xtrack.sources.ids import snowflake_time

MAX_PAGES = 20  # pages per poll (XTRACK_TWITTERAPI_MAX_PAGES): each is billed, so a runaway stops here
EMPTY_PAGES_TO_STOP = 2
_METRICS = {
    "likeCount": "likes",
    "retweetCount": "reposts",
    "replyCount": "replies",
    "quoteCount": "quotes",
    "viewCount": "views",
    "bookmarkCount": "bookmarks",
}


def search_time(value: datetime) -> str:
    """The ``since:`` operator's format, ``YYYY-MM-DD_HH:MM:SS_UTC`` (inclusive, whole seconds)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d_%H:%M:%S_UTC")


def search_query(
    username: str, *, since_id: str | None, start_time: datetime | None, end_time: datetime | None = None
) -> str:
    """``from:NAME since:T`` where T is the later of the window's start and the cursor post's time
    (ids are snowflakes, so the cursor tells when it was posted), minus a second for rounding."""
    bounds = []
    if start_time is not None:
        bounds.append(start_time)
    if since_id is not None:
        bounds.append(snowflake_time(since_id) - timedelta(seconds=1))
    # Without include:nativeretweets the search leaves reposts out (about half of some accounts).
    query = f"from:{username} include:nativeretweets"
    if bounds:
        query += f" since:{search_time(max(bounds))}"
    if end_time is not None:
        # ``until:`` is exclusive at whole seconds: one second past the bound keeps every post in it.
        query += f" until:{search_time(end_time.replace(microsecond=0) + timedelta(seconds=1))}"
    return query


def parse_created_at(value: Any) -> datetime:
    text = str(value)
    try:
        return datetime.strptime(text, "%a %b %d %H:%M:%S %z %Y").astimezone(UTC)
    except ValueError:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _author(tweet: Any) -> str | None:
    author = tweet.get("author") if isinstance(tweet, Mapping) else None
    name = author.get("userName") if isinstance(author, Mapping) else None
    return str(name).lower()[:15] if name else None


def parse_tweet(tweet: Any, *, username: str) -> Post:
    """A search result as a Post: a repost (``retweeted_tweet``) carries the original's text and
    author, a quote (``quoted_tweet``) the quoted post's."""
    try:
        post_id = str(tweet["id"])
        if not post_id.isdigit():
            raise ValueError(f"id {post_id!r} is not numeric")
        created_at = parse_created_at(tweet["createdAt"])
        text = str(tweet.get("text") or "")
        author = tweet.get("author") or {}
        author_name = str(author.get("userName") or username).lower()[:15]
        metrics = {name: int(tweet[key]) for key, name in _METRICS.items() if tweet.get(key) is not None}
        url = str(tweet.get("url") or f"https://x.com/{author_name}/status/{post_id}")
        original = tweet.get("retweeted_tweet")
        quoted = tweet.get("quoted_tweet")
        original_author = quoted_author = quoted_text = None
        if isinstance(original, Mapping) and original.get("text"):
            text = str(original["text"])
            original_author = _author(original)
        if isinstance(quoted, Mapping) and quoted.get("text"):
            quoted_text = str(quoted["text"])
            quoted_author = _author(quoted)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise MalformedResponse(f"twitterapi.io returned a post that cannot be read ({exc})") from None
    return Post(
        external_id=post_id,
        author_username=author_name,
        text=text,
        created_at=created_at,
        url=url[:300],
        metrics=metrics,
        is_repost=bool(tweet.get("retweeted_tweet")),
        is_reply=bool(tweet.get("isReply")),
        is_quote=bool(tweet.get("quoted_tweet")),
        raw=dict(tweet),
        original_author=original_author,
        quoted_author=quoted_author,
        quoted_text=quoted_text,
    )


class TwitterApiSource:
    name = "twitterapi"
    timeline_depth: int | None = None  # search reaches back as far as the window asks
    fetches_by_username = True  # the search reads ``from:NAME``: user/info need not come first

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        public_url: str,
        timeout: float,
        max_retries: int,
        retry_base_seconds: float = 1.0,
        clock: Clock = utcnow,
        max_connections: int = 50,
        max_pages: int = MAX_PAGES,
    ) -> None:
        self.max_pages = max_pages
        self.http = SourceHttp(
            source_name=self.name,
            label="twitterapi.io",
            base_url=base_url,
            public_url=public_url,
            timeout=timeout,
            max_retries=max_retries,
            headers={"X-API-Key": api_key},
            retry_base_seconds=retry_base_seconds,
            clock=clock,
            max_connections=max_connections,
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def resolve(self, username: str) -> AccountInfo:
        reply = await self.http.get("/twitter/user/info", params={"userName": username})
        if reply.response.status_code == 404:
            raise AccountNotFound(f"@{username} does not exist on X")
        body = reply.json()
        if not isinstance(body, Mapping):
            raise MalformedResponse("twitterapi.io user info: expected a JSON object")
        user = body.get("data")
        if body.get("status") == "error":
            message = str(body.get("msg") or body.get("message") or "")
            if "suspend" in message.lower():
                raise AccountUnavailable(f"@{username} is suspended", state="suspended")
            if "not found" in message.lower() or "not exist" in message.lower():
                raise AccountNotFound(f"@{username} does not exist on X")
            raise RequestRejected(f"twitterapi.io refused the user lookup: {message}")
        if not isinstance(user, Mapping) or not user.get("id"):
            raise AccountNotFound(f"@{username} does not exist on X")
        if user.get("unavailable"):
            reason = str(user.get("unavailableReason") or "").lower()
            state = "protected" if "protect" in reason else "suspended"
            raise AccountUnavailable(f"@{username} is {state}", state=state)
        if user.get("protected") is True or user.get("isProtected") is True:
            raise AccountUnavailable(f"@{username}'s posts are protected", state="protected")
        name = user.get("name")
        return AccountInfo(
            username=username, external_id=str(user["id"]), display_name=str(name) if name else None
        )

    async def _page(self, query: str, cursor: str) -> tuple[list[Any], bool, str, Reply]:
        """One search page: its posts, ``has_next_page`` and ``next_cursor``."""
        reply = await self.http.get(
            "/twitter/tweet/advanced_search", params={"query": query, "queryType": "Latest", "cursor": cursor}
        )
        if reply.response.status_code == 404:
            raise RequestRejected("twitterapi.io: the search endpoint was not found (check the URL)")
        body = reply.json()
        if not isinstance(body, Mapping):
            raise MalformedResponse("twitterapi.io search: expected a JSON object")
        if body.get("status") == "error":
            raise RequestRejected(f"twitterapi.io refused the search: {body.get('msg', '')}")
        tweets = body.get("tweets")
        if tweets is None:
            tweets = []
        if not isinstance(tweets, list):
            raise MalformedResponse("twitterapi.io search: 'tweets' is not a list")
        return tweets, bool(body.get("has_next_page")), str(body.get("next_cursor") or ""), reply

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
        query = search_query(account.username, since_id=since_id, start_time=start_time, end_time=end_time)
        floor = int(since_id) if since_id is not None else None
        posts: dict[str, Post] = {}
        requests = read = 0
        note: str | None = None
        limit = RateLimit(None, None)
        cursor = ""
        seen: set[str] = set()
        empty = 0
        for _page in range(self.max_pages):
            tweets, more, next_cursor, reply = await self._page(query, cursor)
            requests += reply.attempts
            read += len(tweets)
            limit = reply.rate_limit
            reached_cursor = False
            for tweet in tweets:
                post = parse_tweet(tweet, username=account.username)
                if floor is not None and post.sort_key <= floor:
                    reached_cursor = True  # newest first: everything after this is already stored
                    continue
                if start_time is not None and post.created_at < start_time.replace(microsecond=0):
                    reached_cursor = True
                    continue
                if end_time is not None and post.created_at > end_time.replace(microsecond=0) + timedelta(
                    seconds=1
                ):
                    continue
                posts[post.external_id] = post
            if reached_cursor or not more or not next_cursor:
                break
            empty = empty + 1 if not tweets else 0
            seen.add(cursor)
            # Each page is billed: a cursor that does not advance, or pages that stay empty while
            # saying there is more, would go on for ever.
            if next_cursor in seen:
                note = "twitterapi.io repeated a page cursor: the poll stopped, older posts may be missing"
                break
            if empty >= EMPTY_PAGES_TO_STOP:
                note = (
                    "twitterapi.io kept answering empty pages: the poll stopped, older posts may be missing"
                )
                break
            cursor = next_cursor
        else:
            note = (
                f"twitterapi.io had more than {self.max_pages} pages (XTRACK_TWITTERAPI_MAX_PAGES): "
                "the poll stopped, older posts may be missing"
            )
        return FetchResult(
            posts=sorted(posts.values(), key=lambda p: p.sort_key),
            gap=note is not None,
            gap_note=note,
            requests=requests,
            posts_read=read,
            rate_limit_remaining=limit.remaining,
            rate_limit_reset_at=limit.reset_at,
        )
