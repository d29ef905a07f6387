"""What ``bench_burst.py`` runs beside XTrack, each in its own process so its CPU is not counted
against the server: a twitterapi.io stand-in, an OpenAI-compatible LLM stand-in, the floor client,
the load generator, and a sampling profiler for the server (``--profile``).

The stand-ins do O(1) work per request (no scan of stored posts, bodies built from a template) and
answer after ``delay`` seconds; ``GET /_counts`` says how many requests each path has served.
"""

from __future__ import annotations

import asyncio
import collections
import json
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

POSTS_PER_ACCOUNT = 6  # >= 5, so the run is summarized by the LLM (summarize.registry.MIN_POSTS_FOR_LLM)
TWITTER_EPOCH_MS = 1288834974657

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def _tweets_template() -> str:
    """The search answer for any account (``__USER__`` replaced per request): six posts of the last hour."""
    now = datetime.now(UTC)
    tweets = []
    for i in range(POSTS_PER_ACCOUNT):
        created = now - timedelta(minutes=50 - 5 * i)
        snowflake = (int(created.timestamp() * 1000) - TWITTER_EPOCH_MS) << 22 | i
        tweets.append(
            {
                "type": "tweet",
                "id": str(snowflake),
                "url": f"https://x.com/__USER__/status/{snowflake}",
                "text": f"Post {i} about AI chips, HBM supply and open-weight models.",
                "createdAt": created.strftime("%a %b %d %H:%M:%S +0000 %Y"),
                "likeCount": 5,
                "retweetCount": 1,
                "replyCount": 0,
                "quoteCount": 0,
                "viewCount": 100,
                "isReply": False,
                "author": {"userName": "__USER__", "id": "__ID__"},
            }
        )
    return json.dumps({"tweets": tweets, "has_next_page": False, "next_cursor": ""})


def _completion(text: str) -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "model": "gpt-4o-mini",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 400, "completion_tokens": 60, "total_tokens": 460},
        }
    ).encode()


def standin_app(delay: float) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """One raw ASGI app serving both stand-ins (run it twice, one process each)."""
    counts: collections.Counter[str] = collections.Counter()
    search = _tweets_template()
    summary = _completion("## New posts on AI chips\n\n- HBM supply and open-weight models came up [1].")

    async def respond(send: Send, body: bytes, status: int = 200) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == "/_counts":
            await respond(send, json.dumps(counts).encode())
            return
        more = True
        while more:  # drain the request body
            message = await receive()
            more = message.get("more_body", False)
        counts[path] += 1
        query = scope["query_string"].decode()
        if delay:
            await asyncio.sleep(delay)
        if path == "/twitter/user/info":
            name = query.partition("userName=")[2].partition("&")[0]
            user_id = str(10_000_000 + abs(hash(name)) % 10**9)
            body = {
                "status": "success",
                "msg": "success",
                "data": {"id": user_id, "userName": name, "name": name},
            }
            await respond(send, json.dumps(body).encode())
        elif path == "/twitter/tweet/advanced_search":
            # "from%3Aname+since%3A..." or "from:name since:..."
            from urllib.parse import unquote_plus

            terms = unquote_plus(query.partition("query=")[2].partition("&")[0])
            name = terms.partition("from:")[2].partition(" ")[0]
            await respond(send, search.replace("__USER__", name).replace("__ID__", "1").encode())
        elif path.endswith("/chat/completions"):
            await respond(send, summary)
        else:
            await respond(send, b'{"detail": "not found"}', 404)

    return app


def serve_standin(port: int, delay: float) -> None:
    import uvicorn

    uvicorn.run(
        standin_app(delay),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        backlog=4096,
        loop="uvloop",
        http="httptools",
    )


def _shards(base_url: str, connections: int) -> list[Any]:
    """Clients of at most 4 connections each, used in turn: what XTrack's outbound pools do
    (``sources.http.SHARD_CONNECTIONS``), since one httpx pool of 500 connections spends seconds of
    CPU on its own bookkeeping."""
    import httpx

    count = max(1, -(-connections // 4))
    per = -(-connections // count)
    limits = httpx.Limits(max_connections=per, max_keepalive_connections=per)
    return [httpx.AsyncClient(base_url=base_url, limits=limits, timeout=120) for _ in range(count)]


async def floor(source_url: str, llm_url: str, runs: int, tag: str) -> float:
    """The physical floor: ``runs`` at once, each one source search and then one LLM call, from one
    process with one pooled client per upstream (as a server process has). Seconds for all."""
    sources, llms = _shards(source_url, runs), _shards(llm_url, runs)

    async def one(i: int) -> None:
        name = f"{tag}{i}"
        found = await sources[i % len(sources)].get(
            "/twitter/tweet/advanced_search",
            params={"query": f"from:{name} since:2026-01-01_00:00:00_UTC", "queryType": "Latest"},
        )
        tweets = found.json()["tweets"]
        answer = await llms[i % len(llms)].post(
            "/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": json.dumps(tweets)}]},
        )
        answer.json()

    try:
        began = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(runs)))
        return time.perf_counter() - began
    finally:
        for client in sources + llms:
            await client.aclose()


async def fire(
    base_url: str, requests: list[tuple[str, str]], start_at: float
) -> tuple[float, list[tuple[float, int, int]]]:
    """POST one playground run per (token, username) at wall-clock ``start_at``, all at once; returns
    when they left (later than ``start_at`` if the warm-up ran late) and (accept seconds, status,
    run id) per request."""
    clients = _shards(base_url, len(requests))
    try:

        async def one(i: int, token: str, username: str) -> tuple[float, int, int]:
            began = time.perf_counter()
            response = await clients[i % len(clients)].post(
                "/api/v1/playground/runs",
                headers={"Authorization": f"Bearer {token}"},
                # confirm_cost: each new account's estimate (up to a busy account's posts) is over
                # XTRACK_CONFIRM_ABOVE_USD; the burst is of users who said yes (issue 24's 409).
                json={
                    "x_username": username,
                    "topics": ["AI"],
                    "hours_back": 24,
                    "language": "en",
                    "confirm_cost": True,
                },
            )
            took = time.perf_counter() - began
            run_id = int(response.json()["id"]) if response.status_code == 202 else 0
            return took, response.status_code, run_id

        # No connection is opened before: a burst of new users connects as it asks (and uvicorn
        # closes a connection idle for 5 s, which a warm-up could not rule out under load).
        await asyncio.sleep(max(0.0, start_at - time.time()))
        fired_at = time.time()
        return fired_at, list(await asyncio.gather(*(one(i, *pair) for i, pair in enumerate(requests))))
    finally:
        for client in clients:
            await client.aclose()


def load_generator(argv: list[str]) -> None:
    """``--fire BASE_URL START_AT``: requests as JSON on stdin, results as JSON on stdout."""
    base_url, start_at = argv[0], float(argv[1])
    requests = [tuple(pair) for pair in json.load(sys.stdin)]
    results = asyncio.run(fire(base_url, requests, start_at))  # type: ignore[arg-type]
    json.dump(results, sys.stdout)


class Sampler:
    """A sampling profiler for the main thread (py-spy is not installed here): every ``interval`` it
    records the main thread's stack; at exit it prints the functions seen most often on the stack
    (inclusive) and at its top (self), in per cent of the samples taken while the loop was busy."""

    def __init__(self, out: str, interval: float = 0.002) -> None:
        self.out = out
        self.interval = interval
        self.inclusive: collections.Counter[str] = collections.Counter()
        self.own: collections.Counter[str] = collections.Counter()
        self.importers: collections.Counter[str] = collections.Counter()
        self.samples = 0
        self.idle = 0
        self._main = threading.main_thread().ident
        self._stop = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True, name="sampler").start()

    def reset(self, *_args: object) -> None:
        """Forget the samples so far (SIGUSR1 from the bench as a burst starts: not the start-up)."""
        self.inclusive.clear()
        self.own.clear()
        self.importers.clear()
        self.samples = self.idle = 0

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            frame = sys._current_frames().get(self._main)
            if frame is None:
                continue
            names = []
            while frame is not None:
                code = frame.f_code
                names.append(f"{code.co_filename.rsplit('site-packages/', 1)[-1]}:{code.co_name}")
                frame = frame.f_back
            # The loop waits for I/O (asyncio's selector, or inside uvloop's C loop under asyncio.run).
            if names[0].endswith(("selectors.py:select", "asyncio/runners.py:run")):
                self.idle += 1
                continue
            self.samples += 1
            self.own[names[0]] += 1
            for below, above in zip(names[1:], names, strict=False):
                if "importlib" in above and "importlib" not in below:
                    self.importers[below] += 1  # who imports while serving (an import per call)
                    break
            for name in set(names):
                self.inclusive[name] += 1

    def dump(self) -> None:
        self._stop.set()
        total = max(1, self.samples)
        lines = [f"busy samples {self.samples}, idle {self.idle} (every {self.interval * 1000:g} ms)"]
        lines.append("inclusive:")
        lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in self.inclusive.most_common(120)]
        lines.append("self:")
        lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in self.own.most_common(40)]
        lines.append("importing from:")
        lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in self.importers.most_common(10)]
        with open(self.out, "w") as handle:
            handle.write("\n".join(lines) + "\n")


def profiled_xtrack(out: str, argv: list[str]) -> None:
    """``xtrack ARGV`` in this process with the sampler running; the profile is written at exit."""
    import atexit
    import signal

    if out.endswith(".sql"):
        # Statements by kind (SQLAlchemy's events, every engine): what a burst asks of the database.
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        statements: collections.Counter[str] = collections.Counter()

        def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            statements[" ".join(statement.split())[:150]] += 1

        event.listen(Engine, "before_cursor_execute", count)
        event.listen(Engine, "begin", lambda _conn: statements.update(["BEGIN"]))
        event.listen(Engine, "commit", lambda _conn: statements.update(["COMMIT"]))
        signal.signal(signal.SIGUSR1, lambda *_: statements.clear())

        def dump_statements() -> None:
            with open(out, "w") as handle:
                handle.writelines(f"{n:7d}  {text}\n" for text, n in statements.most_common())

        atexit.register(dump_statements)
    elif out.endswith(".prof"):
        # cProfile instead (exact CPU per function, ~2x slower): on from SIGUSR1 until exit.
        import cProfile
        import io
        import pstats

        profile = cProfile.Profile()

        def dump() -> None:
            profile.disable()
            text = io.StringIO()
            stats = pstats.Stats(profile, stream=text)
            stats.sort_stats("cumulative").print_stats(90)
            stats.sort_stats("tottime").print_stats(50)
            with open(out, "w") as handle:
                handle.write(text.getvalue())
            profile.dump_stats(out + ".pstats")  # for pstats / snakeviz: callers, grouping by package

        atexit.register(dump)
        signal.signal(signal.SIGUSR1, lambda *_: profile.enable())
    else:
        sampler = Sampler(out)
        atexit.register(sampler.dump)
        signal.signal(signal.SIGUSR1, sampler.reset)
    if out.endswith(".txt"):
        sampler.start()
    from xtrack.cli import main

    sys.argv = ["xtrack", *argv]
    main()


if __name__ == "__main__":
    command, rest = sys.argv[1], sys.argv[2:]
    if command == "--standin":
        serve_standin(int(rest[0]), float(rest[1]))
    elif command == "--fire":
        load_generator(rest)
    elif command == "--floor":
        print(asyncio.run(floor(rest[0], rest[1], int(rest[2]), rest[3])))
    elif command == "--profile":
        profiled_xtrack(rest[0], rest[1:])
