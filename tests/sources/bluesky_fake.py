"""A stand-in Bluesky AppView written from the lexicons: ``app.bsky.actor.getProfile`` and
``app.bsky.feed.getAuthorFeed`` (``actor`` as handle or DID, ``limit`` 1-100, opaque ``cursor``,
``filter``), XRPC errors as ``{"error", "message"}`` with HTTP 400, ``ratelimit-*`` headers (reset as
epoch seconds, as the AppView sends them), reposts as ``#reasonRepost`` items with the repost
record's ``uri``, quotes as ``app.bsky.embed.record#view`` (``#viewNotFound`` once deleted), replies
with ``record.reply``."""

from __future__ import annotations

import base64
import hashlib
import json
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.sources.fakes import Fault
from xtrack.sources.bluesky_posts import make_tid


@dataclass
class FakeActor:
    did: str
    handle: str
    display_name: str
    status: str = "ok"  # ok | takendown | deactivated
    # Feed items of this actor, newest last: {"kind": "post"|"repost", "uri", "sort_at", ...}
    items: list[dict[str, Any]] = field(default_factory=list)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FakeBluesky:
    def __init__(self) -> None:
        self.actors: dict[str, FakeActor] = {}
        self.posts: dict[str, dict[str, Any]] = {}  # uri -> post record and author
        self.deleted: set[str] = set()
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.faults: deque[Fault] = deque()
        self.items_served = 0
        self.remaining = 3000
        self.reset_at = datetime.now(UTC) + timedelta(minutes=5)
        self._clock = 0
        self.app = Starlette(
            routes=[
                Route("/xrpc/app.bsky.actor.getProfile", self.get_profile),
                Route("/xrpc/app.bsky.feed.getAuthorFeed", self.get_author_feed),
            ]
        )

    def count(self, method: str) -> int:
        return sum(1 for path, _params in self.requests if path.endswith(method))

    def fail_next(
        self, status: int = 503, *, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> None:
        self.faults.append(
            Fault(
                status=status,
                body=json.dumps(body or {"error": "InternalServerError"}),
                headers=dict(headers or {}),
            )
        )

    def add_actor(self, handle: str, *, status: str = "ok") -> FakeActor:
        did = "did:plc:" + base64.b32encode(hashlib.sha256(handle.encode()).digest()).decode().lower()[:24]
        actor = FakeActor(did=did, handle=handle, display_name=handle.split(".")[0].title(), status=status)
        self.actors[handle] = actor
        self.actors[did] = actor
        return actor

    def _tid(self, moment: datetime) -> str:
        self._clock = (self._clock + 1) % 1024
        return make_tid(moment, self._clock)

    def post(
        self,
        actor: FakeActor,
        text: str,
        at: datetime,
        *,
        reply_to: str | None = None,
        quote: str | None = None,
        link: str | None = None,
    ) -> str:
        """A post of ``actor`` at ``at``; returns its AT URI."""
        uri = f"at://{actor.did}/app.bsky.feed.post/{self._tid(at)}"
        record: dict[str, Any] = {
            "$type": "app.bsky.feed.post",
            "text": text,
            "createdAt": _iso(at),
            "langs": ["en"],
        }
        if link is not None:
            # The app shows a shortened link text; the facet holds the whole address.
            short = link.split("://", 1)[-1][:20] + "..."
            start = len(text.encode()) + 1
            record["text"] = f"{text} {short}"
            record["facets"] = [
                {
                    "index": {"byteStart": start, "byteEnd": start + len(short.encode())},
                    "features": [{"$type": "app.bsky.richtext.facet#link", "uri": link}],
                }
            ]
        if reply_to is not None:
            parent = {"uri": reply_to, "cid": "bafyparent"}
            record["reply"] = {"root": parent, "parent": parent}
        if quote is not None:
            record["embed"] = {
                "$type": "app.bsky.embed.record",
                "record": {"uri": quote, "cid": "bafyquoted"},
            }
        self.posts[uri] = {"record": record, "actor": actor, "indexed_at": at, "quote": quote}
        actor.items.append({"kind": "post", "uri": uri, "sort_at": at})
        return uri

    def repost(self, actor: FakeActor, original: str, at: datetime) -> str:
        uri = f"at://{actor.did}/app.bsky.feed.repost/{self._tid(at)}"
        actor.items.append({"kind": "repost", "uri": uri, "subject": original, "sort_at": at})
        return uri

    def add_posts(self, actor: FakeActor, count: int, *, start: datetime, step: timedelta) -> list[str]:
        return [
            self.post(actor, f"post {i} of {actor.handle} about chips", start + step * i)
            for i in range(count)
        ]

    def delete(self, uri: str) -> None:
        self.deleted.add(uri)

    # -- views ---------------------------------------------------------------------------------

    def _profile_basic(self, actor: FakeActor) -> dict[str, Any]:
        return {"did": actor.did, "handle": actor.handle, "displayName": actor.display_name, "labels": []}

    def _post_view(self, uri: str) -> dict[str, Any]:
        post = self.posts[uri]
        view: dict[str, Any] = {
            "uri": uri,
            "cid": "bafy" + uri.rsplit("/", 1)[-1],
            "author": self._profile_basic(post["actor"]),
            "record": post["record"],
            "replyCount": 1,
            "repostCount": 2,
            "likeCount": 5,
            "quoteCount": 0,
            "indexedAt": _iso(post["indexed_at"]),
            "labels": [],
        }
        quoted = post["quote"]
        if quoted is not None:
            if quoted in self.deleted or quoted not in self.posts:
                record: dict[str, Any] = {
                    "$type": "app.bsky.embed.record#viewNotFound",
                    "uri": quoted,
                    "notFound": True,
                }
            else:
                inner = self.posts[quoted]
                record = {
                    "$type": "app.bsky.embed.record#viewRecord",
                    "uri": quoted,
                    "cid": "bafyquoted",
                    "author": self._profile_basic(inner["actor"]),
                    "value": inner["record"],
                    "indexedAt": _iso(inner["indexed_at"]),
                }
            view["embed"] = {"$type": "app.bsky.embed.record#view", "record": record}
        return view

    def _feed_item(self, actor: FakeActor, item: dict[str, Any]) -> dict[str, Any]:
        if item["kind"] == "repost":
            return {
                "post": self._post_view(item["subject"]),
                "reason": {
                    "$type": "app.bsky.feed.defs#reasonRepost",
                    "by": self._profile_basic(actor),
                    "uri": item["uri"],
                    "cid": "bafyrepost",
                    "indexedAt": _iso(item["sort_at"]),
                },
            }
        return {"post": self._post_view(item["uri"])}

    # -- endpoints -----------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        self.remaining = max(0, self.remaining - 1)
        return {
            "ratelimit-limit": "3000",
            "ratelimit-remaining": str(self.remaining),
            "ratelimit-reset": str(int(self.reset_at.timestamp())),
            "ratelimit-policy": "3000;w=300",
        }

    async def _intercept(self, request: Request) -> Response | None:
        self.requests.append((request.url.path, dict(request.query_params)))
        if self.faults:
            fault = self.faults.popleft()
            return Response(
                fault.body, status_code=fault.status, headers=fault.headers, media_type="application/json"
            )
        return None

    def _actor(self, name: str) -> FakeActor | Response:
        actor = self.actors.get(name.lower())
        if actor is None:
            return JSONResponse(
                {"error": "InvalidRequest", "message": "Profile not found"}, 400, headers=self._headers()
            )
        if actor.status == "takendown":
            return JSONResponse(
                {"error": "AccountTakedown", "message": "Account has been suspended"},
                400,
                headers=self._headers(),
            )
        if actor.status == "deactivated":
            return JSONResponse(
                {"error": "AccountDeactivated", "message": "Account is deactivated"},
                400,
                headers=self._headers(),
            )
        return actor

    async def get_profile(self, request: Request) -> Response:
        if (fault := await self._intercept(request)) is not None:
            return fault
        actor = self._actor(request.query_params.get("actor", ""))
        if isinstance(actor, Response):
            return actor
        body = {**self._profile_basic(actor), "postsCount": len(actor.items), "followersCount": 10}
        return JSONResponse(body, headers=self._headers())

    async def get_author_feed(self, request: Request) -> Response:
        if (fault := await self._intercept(request)) is not None:
            return fault
        actor = self._actor(request.query_params.get("actor", ""))
        if isinstance(actor, Response):
            return actor
        limit = int(request.query_params.get("limit", "50"))
        if not 1 <= limit <= 100:
            return JSONResponse({"error": "InvalidRequest", "message": "limit must be <= 100"}, 400)
        items = sorted(
            (i for i in actor.items if i["uri"] not in self.deleted),
            key=lambda i: (i["sort_at"], i["uri"]),
            reverse=True,
        )
        cursor = request.query_params.get("cursor")
        if cursor:
            at, _, uri = cursor.partition("::")
            after = (datetime.fromisoformat(at), uri)
            items = [i for i in items if (i["sort_at"], i["uri"]) < after]
        page = items[:limit]
        self.items_served += len(page)
        body: dict[str, Any] = {"feed": [self._feed_item(actor, item) for item in page]}
        if len(items) > limit:
            last = page[-1]
            body["cursor"] = f"{last['sort_at'].isoformat()}::{last['uri']}"
        return JSONResponse(body, headers=self._headers())
