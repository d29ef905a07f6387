"""The soak's stand-ins, each keeping its own record for the audit: an X API whose accounts keep
posting (and which counts every post it serves), an OpenAI-compatible LLM that fails some calls,
and a webhook receiver that is sometimes slow or down.

They reuse the test suite's fakes (``tests.sources.fakes.FakeX``, ``tests.summarize.fakes.FakeLLM``)
and run in threads of the soak's own process through ``tests.fakes.server.serve_app``."""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from tests.sources.fakes import FakeUser, FakeX
from tests.summarize.fakes import FakeLLM, Received, Reply, openai_reply

from xtrack.sources.ids import snowflake


class RecordingX(FakeX):
    """FakeX with no rate limit to run out of, a record of every post it served (reads per post),
    and publishing that is atomic with reading: a read sees a post exactly when the post's
    ``created_at`` precedes the read, as on X (otherwise the stand-in itself could "lose" a post
    whose timestamp is older than a fetch that did not see it)."""

    def __init__(self) -> None:
        super().__init__(budget=10**12)
        self.lock = threading.Lock()
        self.served: Counter[str] = Counter()
        self.published: dict[str, list[tuple[str, datetime]]] = {}
        self.timeline_requests = 0
        self._sequence = 0

    def _headers(self) -> dict[str, str]:
        return {"x-rate-limit-limit": "1000000", "x-rate-limit-remaining": "999999"}

    def _lookup_headers(self) -> dict[str, str]:
        # FakeX keeps X's own 300 lookups per window for the user endpoint: more accounts than that
        # made the soak's runs wait out a rate limit it does not mean to test.
        return self._headers()

    async def timeline(self, request: Request) -> Response:
        token = request.query_params.get("pagination_token", "")
        if token.startswith("p"):
            # X's pagination tokens are stable while new posts arrive; FakeX's are offsets, which
            # shift when a burst lands between two pages. Here a token is the last id served, asked
            # for again as until_id (exclusive), so a page never repeats what the last one served.
            query = [(k, v) for k, v in request.query_params.multi_items() if k != "pagination_token"]
            scope = dict(request.scope)
            scope["query_string"] = urlencode([*query, ("until_id", token[1:])]).encode()
            request = Request(scope, request.receive)
        # FakeX's handler does not suspend without scripted faults or delays, so the lock is held
        # for a synchronous stretch only (never across a switch to another request).
        with self.lock:
            response = await super().timeline(request)
            self.timeline_requests += 1
        if response.status_code != 200 or not isinstance(response, JSONResponse):
            return response
        body = json.loads(bytes(response.body))
        for tweet in body.get("data", []):
            self.served[tweet["id"]] += 1
        meta = body.get("meta", {})
        if meta.get("next_token"):
            meta["next_token"] = "p" + body["data"][-1]["id"]
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return JSONResponse(body, headers=headers)

    def add_account(self, username: str) -> FakeUser:
        self.published[username.lower()] = []
        return self.add_user(username)

    def publish(self, user: FakeUser, count: int, *, at: datetime | None = None) -> None:
        """``count`` posts created now (or at ``at``, for the history seeded before the soak)."""
        with self.lock:
            created = at or datetime.now(UTC)
            created = created.replace(microsecond=created.microsecond // 1000 * 1000)
            posts = []
            for _ in range(count):
                self._sequence += 1
                post_id = str(snowflake(created, self._sequence % 4096))
                posts.append(
                    {"id": post_id, "text": f"{user.username} on #AI and chips", "created_at": created}
                )
                self.published[user.username.lower()].append((post_id, created))
            user.posts = sorted([*user.posts, *posts], key=lambda p: int(p["id"]))


@dataclass
class Publisher:
    """Every account posts a few times a minute; now and then one bursts 100+ posts at once."""

    x: RecordingX
    accounts: list[FakeUser]
    posts_per_minute: float = 3.0
    burst_every_seconds: float = 30.0
    rng: random.Random = field(default_factory=random.Random)
    bursts: int = 0
    stopped: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        tick = 1.0
        next_burst = time.monotonic() + self.burst_every_seconds
        chance = self.posts_per_minute * tick / 60.0
        while not self.stopped.wait(tick):
            for user in self.accounts:
                if self.rng.random() < chance:
                    self.x.publish(user, 1)
            if time.monotonic() >= next_burst:
                self.x.publish(self.rng.choice(self.accounts), self.rng.randint(100, 160))
                self.bursts += 1
                next_burst = time.monotonic() + self.rng.uniform(0.5, 1.5) * self.burst_every_seconds

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="publisher", daemon=True)
        thread.start()
        return thread


class FlakyLLM(FakeLLM):
    """An OpenAI-compatible endpoint failing a share of its calls: 500s, 429s with Retry-After, and
    answers slower than XTrack's LLM timeout."""

    def __init__(self, *, failure_rate: float, timeout_delay: float, rng: random.Random) -> None:
        super().__init__("/v1/chat/completions", openai_reply)
        self.outcomes: Counter[str] = Counter()
        self.rng = rng
        self.failure_rate = failure_rate
        self.timeout_delay = timeout_delay
        self.responder = self._answer

    def _answer(self, received: Received) -> Reply:
        self.requests.clear()  # the soak keeps counts, not the bodies
        roll = self.rng.random()
        share = self.failure_rate / 3
        if roll < share:
            self.outcomes["500"] += 1
            return Reply(status=500, json={"error": {"message": "server error", "type": "server_error"}})
        if roll < 2 * share:
            self.outcomes["429"] += 1
            return Reply(
                status=429,
                json={"error": {"message": "Rate limit reached", "type": "requests"}},
                headers={"retry-after": "1"},
            )
        if roll < 3 * share:
            self.outcomes["timeout"] += 1
            return Reply(json=openai_reply("## Late"), delay=self.timeout_delay)
        self.outcomes["ok"] += 1
        return Reply(json=openai_reply("## Summary\n\nWhat the account said about AI and chips."))


@dataclass
class Receipt:
    key: str | None
    title: str
    at: float
    slow: bool


class WebhookReceiver:
    """Records every summary it is sent, with its Idempotency-Key. ``mode``: "ok", "slow" (answers
    after the sender's timeout: the sender retries, and the receiver has it twice) or "down" (503)."""

    def __init__(self, *, slow_seconds: float) -> None:
        self.mode = "ok"
        self.slow_seconds = slow_seconds
        self.receipts: list[Receipt] = []
        self.refused = 0
        self.lock = threading.Lock()
        self.app = Starlette(routes=[Route("/hook", self.handle, methods=["POST"])])

    async def handle(self, request: Request) -> Response:
        mode = self.mode
        if mode == "down":
            with self.lock:
                self.refused += 1
            return JSONResponse({"error": "down"}, status_code=503)
        body: dict[str, Any] = await request.json()
        with self.lock:
            self.receipts.append(
                Receipt(
                    request.headers.get("idempotency-key"),
                    str(body.get("title")),
                    time.time(),
                    mode == "slow",
                )
            )
        if mode == "slow":
            await asyncio.sleep(self.slow_seconds)
        return JSONResponse({"ok": True})

    def keys(self) -> Counter[str]:
        with self.lock:
            return Counter(r.key or "" for r in self.receipts)

    def slow_keys(self) -> set[str]:
        with self.lock:
            return {r.key or "" for r in self.receipts if r.slow}


def seed_history(x: RecordingX, accounts: list[FakeUser], rng: random.Random) -> None:
    """A few posts in the hour before the soak, inside every job's first 24 h window."""
    now = datetime.now(UTC)
    for user in accounts:
        for _ in range(rng.randint(0, 4)):
            x.publish(user, 1, at=now - timedelta(minutes=rng.uniform(1, 60)))
