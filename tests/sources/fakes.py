"""Fake upstreams for the sources: small Starlette apps served over real HTTP with ``serve_app``.

Each keeps counters the tests assert on (requests per endpoint, posts served) and a queue of
scripted faults (``fail_next``) so one test can say "503 once, then answer"."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from xtrack.sources.ids import snowflake, snowflake_time


@dataclass
class Fault:
    status: int = 503
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class FakeUser:
    id: str
    username: str
    name: str
    protected: bool = False
    suspended: bool = False
    # Newest last; each post: {"id", "text", "created_at" (datetime)}
    posts: list[dict[str, Any]] = field(default_factory=list)


class FakeUpstream:
    def __init__(self) -> None:
        self.users: dict[str, FakeUser] = {}
        self.requests: list[tuple[str, dict[str, str], dict[str, str]]] = []
        self.faults: deque[Fault] = deque()
        self.posts_served = 0
        self.delay = 0.0
        self.answers_built = 0  # answers whose content is fixed, in flight or sent
        self._next_id = 10_000

    def add_user(self, username: str, *, protected: bool = False, suspended: bool = False) -> FakeUser:
        self._next_id += 1
        user = FakeUser(
            id=str(self._next_id),
            username=username,
            name=username.title(),
            protected=protected,
            suspended=suspended,
        )
        self.users[username.lower()] = user
        return user

    def add_posts(
        self, user: FakeUser, count: int, *, start: datetime, step: timedelta = timedelta(seconds=30)
    ) -> list[str]:
        ids = []
        for i in range(count):
            created = start + step * i
            created = created.replace(microsecond=created.microsecond // 1000 * 1000)
            post_id = str(snowflake(created, len(user.posts) % 4096))
            user.posts.append(
                {
                    "id": post_id,
                    "text": f"post {len(user.posts)} of {user.username} #AI",
                    "created_at": created,
                }
            )
            ids.append(post_id)
        user.posts.sort(key=lambda p: int(p["id"]))
        return ids

    def fail_next(
        self,
        status: int = 503,
        *,
        times: int = 1,
        body: str | None = None,
        delay: float = 0.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        for _ in range(times):
            self.faults.append(Fault(status=status, body=body, headers=dict(headers or {}), delay=delay))

    async def answer(self, response: Response) -> Response:
        """Send ``response`` after ``delay``: the answer reflects the posts at arrival time, like a
        real upstream whose reply is in flight while new posts are published."""
        self.answers_built += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        return response

    def count(self, path_part: str) -> int:
        return sum(1 for path, _params, _headers in self.requests if path_part in path)

    async def _intercept(self, request: Request) -> Response | None:
        self.requests.append((request.url.path, dict(request.query_params), dict(request.headers)))
        if self.faults:
            fault = self.faults.popleft()
            if fault.delay:
                await asyncio.sleep(fault.delay)
            return Response(
                fault.body if fault.body is not None else json.dumps({"title": "Service Unavailable"}),
                status_code=fault.status,
                headers=fault.headers,
                media_type="application/json",
            )
        return None


class FakeX(FakeUpstream):
    """X API v2: users/by/username and users/:id/tweets with since_id, start_time, max_results,
    pagination_token; 3,200-post depth; x-rate-limit-* headers; 200 + errors for unknown,
    suspended and protected users."""

    def __init__(self, *, token: str = "good-token", depth: int = 3200, budget: int = 1500) -> None:
        super().__init__()
        self.token = token
        self.depth = depth
        # X limits each endpoint in its own 15-minute bucket: timelines here, user lookups apart.
        self.remaining = budget
        self.lookup_remaining = 300
        self.reset_at = datetime.now(UTC) + timedelta(minutes=15)
        # Whole timeline answers written from the documented shapes, served in turn before the
        # generated ones: (status, body, headers).
        self.timeline_script: deque[tuple[int, dict[str, Any], dict[str, str]]] = deque()
        self.app = Starlette(
            routes=[
                Route("/2/users/by/username/{username}", self.user_lookup),
                Route("/2/users/{user_id}/tweets", self.timeline),
            ]
        )

    def _headers(self) -> dict[str, str]:
        self.remaining = max(0, self.remaining - 1)
        return {
            "x-rate-limit-limit": "1500",
            "x-rate-limit-remaining": str(self.remaining),
            "x-rate-limit-reset": str(int(self.reset_at.timestamp())),
        }

    def _lookup_headers(self) -> dict[str, str]:
        self.lookup_remaining = max(0, self.lookup_remaining - 1)
        return {
            "x-rate-limit-limit": "300",
            "x-rate-limit-remaining": str(self.lookup_remaining),
            "x-rate-limit-reset": str(int(self.reset_at.timestamp())),
        }

    def script_timeline(
        self, body: dict[str, Any], *, status: int = 200, headers: dict[str, str] | None = None
    ) -> None:
        self.timeline_script.append((status, body, dict(headers or {})))

    def _authorized(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.token}"

    async def user_lookup(self, request: Request) -> Response:
        if (fault := await self._intercept(request)) is not None:
            return fault
        if not self._authorized(request):
            return JSONResponse({"title": "Unauthorized", "status": 401, "detail": "Unauthorized"}, 401)
        name = request.path_params["username"]
        user = self.users.get(name.lower())
        if user is None:
            return JSONResponse(
                {
                    "errors": [
                        {
                            "value": name,
                            "detail": f"Could not find user with username: [{name}].",
                            "title": "Not Found Error",
                            "resource_type": "user",
                            "parameter": "username",
                            "resource_id": name,
                            "type": "https://api.twitter.com/2/problems/resource-not-found",
                        }
                    ]
                },
                headers=self._lookup_headers(),
            )
        if user.suspended:
            return JSONResponse(
                {
                    "errors": [
                        {
                            "value": name,
                            "detail": f"User has been suspended: [{name}].",
                            "title": "Forbidden",
                            "resource_type": "user",
                            "parameter": "username",
                            "resource_id": name,
                            "type": "https://api.twitter.com/2/problems/resource-not-found",
                        }
                    ]
                },
                headers=self._lookup_headers(),
            )
        return JSONResponse(
            {
                "data": {
                    "id": user.id,
                    "name": user.name,
                    "username": user.username,
                    "protected": user.protected,
                }
            },
            headers=self._lookup_headers(),
        )

    async def timeline(self, request: Request) -> Response:
        if (fault := await self._intercept(request)) is not None:
            return fault
        if not self._authorized(request):
            return JSONResponse({"title": "Unauthorized", "status": 401, "detail": "Unauthorized"}, 401)
        if self.timeline_script:
            status, scripted, headers = self.timeline_script.popleft()
            self.posts_served += len(scripted.get("data") or [])
            return JSONResponse(scripted, status_code=status, headers={**self._headers(), **headers})
        user = next((u for u in self.users.values() if u.id == request.path_params["user_id"]), None)
        if user is None or user.suspended:
            return JSONResponse(
                {
                    "errors": [
                        {
                            "title": "Forbidden",
                            "detail": "User has been suspended: [x].",
                            "type": "https://api.twitter.com/2/problems/resource-not-found",
                        }
                    ]
                },
                headers=self._headers(),
            )
        if user.protected:
            return JSONResponse(
                {
                    "errors": [
                        {
                            "title": "Authorization Error",
                            "detail": f"Sorry, you are not authorized to see the user with id: [{user.id}].",
                            "type": "https://api.twitter.com/2/problems/not-authorized-for-resource",
                        }
                    ]
                },
                headers=self._headers(),
            )
        params = request.query_params
        page_size = max(5, min(100, int(params.get("max_results", "10"))))
        newest_first = sorted(user.posts, key=lambda p: int(p["id"]), reverse=True)[: self.depth]
        if "since_id" in params:
            newest_first = [p for p in newest_first if int(p["id"]) > int(params["since_id"])]
        if "until_id" in params:
            newest_first = [p for p in newest_first if int(p["id"]) < int(params["until_id"])]
        if "start_time" in params:
            start = datetime.fromisoformat(params["start_time"].replace("Z", "+00:00"))
            newest_first = [p for p in newest_first if p["created_at"] >= start]
        if "end_time" in params:
            end = datetime.fromisoformat(params["end_time"].replace("Z", "+00:00"))
            newest_first = [p for p in newest_first if p["created_at"] <= end]
        offset = int(params.get("pagination_token", "0"))
        page = newest_first[offset : offset + page_size]
        self.posts_served += len(page)
        meta: dict[str, Any] = {"result_count": len(page)}
        if page:
            meta["newest_id"] = page[0]["id"]
            meta["oldest_id"] = page[-1]["id"]
        if offset + page_size < len(newest_first):
            meta["next_token"] = str(offset + page_size)
        body: dict[str, Any] = {"meta": meta}
        if page:
            body["data"] = [
                {
                    "id": p["id"],
                    "text": p["text"],
                    "author_id": user.id,
                    "created_at": p["created_at"].strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                    "edit_history_tweet_ids": [p["id"]],
                    "public_metrics": {
                        "retweet_count": 1,
                        "reply_count": 2,
                        "like_count": 3,
                        "quote_count": 0,
                        "impression_count": 40,
                    },
                    # A post may say what it references (a repost, a quote, a reply); otherwise
                    # every seventh id is a reply, as before.
                    **(
                        {"referenced_tweets": p["referenced_tweets"]}
                        if "referenced_tweets" in p
                        else {"referenced_tweets": [{"type": "replied_to", "id": "1"}]}
                        if int(p["id"]) % 7 == 0
                        else {}
                    ),
                }
                for p in page
            ]
        return await self.answer(JSONResponse(body, headers=self._headers()))


class FakeTwitterApi(FakeUpstream):
    """twitterapi.io: /twitter/user/info and /twitter/tweet/advanced_search (20 a page, newest
    first, ``from:NAME since:YYYY-MM-DD_HH:MM:SS_UTC``, cursor = offset)."""

    PAGE = 20

    def __init__(self, *, key: str = "good-key") -> None:
        super().__init__()
        self.key = key
        # Whole search answers written from the documented shapes, served in turn: (status, body).
        self.search_script: deque[tuple[int, dict[str, Any]]] = deque()
        self.queries: list[str] = []
        self.app = Starlette(
            routes=[
                Route("/twitter/user/info", self.user_info),
                Route("/twitter/tweet/advanced_search", self.search),
            ]
        )

    def _authorized(self, request: Request) -> bool:
        return request.headers.get("x-api-key") == self.key

    async def user_info(self, request: Request) -> Response:
        if (fault := await self._intercept(request)) is not None:
            return fault
        if not self._authorized(request):
            return JSONResponse({"error": 401, "message": "Unauthorized"}, 401)
        user = self.users.get(request.query_params.get("userName", "").lower())
        if user is None:
            return JSONResponse({"status": "error", "msg": "user not found", "data": None})
        data: dict[str, Any] = {"id": user.id, "userName": user.username, "name": user.name}
        if user.suspended:
            data.update({"unavailable": True, "unavailableReason": "Suspended"})
        return JSONResponse({"status": "success", "msg": "success", "data": data})

    async def search(self, request: Request) -> Response:
        if (fault := await self._intercept(request)) is not None:
            return fault
        if not self._authorized(request):
            return JSONResponse({"error": 401, "message": "Unauthorized"}, 401)
        query = request.query_params.get("query", "")
        assert request.query_params.get("queryType") == "Latest"
        self.queries.append(query)
        if self.search_script:
            status, scripted = self.search_script.popleft()
            self.posts_served += len(scripted.get("tweets") or [])
            return JSONResponse(scripted, status_code=status)
        terms = dict(part.split(":", 1) for part in query.split() if ":" in part)
        user = self.users.get(terms.get("from", "").lower())
        posts = sorted(user.posts, key=lambda p: int(p["id"]), reverse=True) if user else []
        if "since" in terms:
            since = datetime.strptime(terms["since"], "%Y-%m-%d_%H:%M:%S_UTC").replace(tzinfo=UTC)
            posts = [p for p in posts if p["created_at"] >= since]
        if "until" in terms:
            until = datetime.strptime(terms["until"], "%Y-%m-%d_%H:%M:%S_UTC").replace(tzinfo=UTC)
            posts = [p for p in posts if p["created_at"] < until]
        offset = int(request.query_params.get("cursor") or "0")
        page = posts[offset : offset + self.PAGE]
        self.posts_served += len(page)
        more = offset + self.PAGE < len(posts)
        response = JSONResponse(
            {
                "tweets": [
                    {
                        "type": "tweet",
                        "id": p["id"],
                        "url": f"https://x.com/{user.username}/status/{p['id']}" if user else "",
                        "text": p["text"],
                        "createdAt": p["created_at"].strftime("%a %b %d %H:%M:%S +0000 %Y"),
                        "likeCount": 5,
                        "retweetCount": 1,
                        "replyCount": 0,
                        "quoteCount": 0,
                        "viewCount": 100,
                        "isReply": False,
                        "author": {"userName": user.username if user else "", "id": user.id if user else ""},
                    }
                    for p in page
                ],
                "has_next_page": more,
                "next_cursor": str(offset + self.PAGE) if more else "",
            }
        )
        return await self.answer(response)


class FakeFeed(FakeUpstream):
    """An RSS feed per user at /{username}/rss with a strong ETag and Last-Modified; answers 304
    to a matching If-None-Match. Items link to /status/<id> unless ``status_links`` is off."""

    def __init__(self, *, status_links: bool = True, size: int = 20) -> None:
        super().__init__()
        self.status_links = status_links
        self.size = size
        self.app = Starlette(routes=[Route("/{username}/rss", self.feed)])

    def render(self, user: FakeUser) -> bytes:
        items = []
        for p in sorted(user.posts, key=lambda p: int(p["id"]), reverse=True)[: self.size]:
            link = (
                f"https://nitter.example/{user.username}/status/{p['id']}#m"
                if self.status_links
                else f"https://blog.example/{user.username}/{p['created_at']:%Y%m%d%H%M%S}"
            )
            items.append(
                f"<item><title>{p['text']}</title><link>{link}</link><guid>{link}</guid>"
                f"<dc:creator>@{user.username}</dc:creator>"
                f"<pubDate>{format_datetime(p['created_at'], usegmt=True)}</pubDate>"
                f"<description>&lt;p&gt;{p['text']}&lt;/p&gt;</description></item>"
            )
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
            f"<title>{user.name} / X</title><link>https://nitter.example/{user.username}</link>"
            f"<description>Posts of @{user.username}</description>{''.join(items)}</channel></rss>"
        ).encode()

    async def feed(self, request: Request) -> Response:
        if (fault := await self._intercept(request)) is not None:
            return fault
        user = self.users.get(request.path_params["username"].lower())
        if user is None:
            # Nitter's error panel for an unknown account.
            name = request.path_params["username"]
            return Response(
                '<html><body><div class="error-panel">'
                f'<span>User "{name}" not found</span></div></body></html>',
                status_code=404,
                media_type="text/html",
            )
        body = self.render(user)
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        newest = max((p["created_at"] for p in user.posts), default=datetime(2026, 1, 1, tzinfo=UTC))
        headers = {"ETag": etag, "Last-Modified": format_datetime(newest, usegmt=True)}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        self.posts_served += min(len(user.posts), self.size)
        return await self.answer(Response(body, headers=headers, media_type="application/rss+xml"))


def at(post_id: str) -> datetime:
    return snowflake_time(post_id)
