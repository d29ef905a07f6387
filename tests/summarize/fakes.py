"""Fake LLM providers (OpenAI-compatible and Anthropic) as Starlette apps served over real HTTP.

Each fake records every request it received and answers from a script of replies, then from a
default responder (a function of the request body) once the script is used up.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class Reply:
    status: int = 200
    json: Any = None
    body: str | None = None  # raw body instead of JSON (malformed replies)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def system(self) -> str:
        if "system" in self.body:
            return str(self.body["system"])
        return str(self.body["messages"][0]["content"])

    @property
    def user(self) -> str:
        return str(self.body["messages"][-1]["content"])

    def post_lines(self) -> list[dict[str, Any]]:
        """The posts of the request's data block, decoded."""
        match = re.search(r"<posts>\n(.*?)\n?</posts>", self.user, re.DOTALL)
        if not match or not match.group(1).strip():
            return []
        return [json.loads(line) for line in match.group(1).split("\n")]


def openai_reply(
    text: str | None,
    *,
    prompt_tokens: int = 100,
    completion_tokens: int = 20,
    cached_tokens: int = 0,
    finish_reason: str = "stop",
    refusal: str | None = None,
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": refusal},
                "finish_reason": finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached_tokens},
        },
    }


def anthropic_reply(
    text: str | None,
    *,
    prompt_tokens: int = 100,
    completion_tokens: int = 20,
    cached_tokens: int = 0,
    finish_reason: str = "end_turn",
    refusal: str | None = None,
) -> dict[str, Any]:
    # Anthropic's input_tokens excludes cache reads: prompt_tokens here is the total, as for OpenAI.
    return {
        "id": "msg_test",
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-4-5",
        "content": [] if text is None else [{"type": "text", "text": text}],
        "stop_reason": "refusal" if refusal else finish_reason,
        "usage": {
            "input_tokens": prompt_tokens - cached_tokens,
            "output_tokens": completion_tokens,
            "cache_read_input_tokens": cached_tokens,
            "cache_creation_input_tokens": 0,
        },
    }


class FakeLLM:
    def __init__(self, path: str, make_reply: Callable[..., dict[str, Any]]) -> None:
        self.path = path
        self.make_reply = make_reply
        self.requests: list[Received] = []
        self.script: list[Reply] = []
        self.responder: Callable[[Received], Reply] = lambda received: Reply(json=make_reply("## Nothing"))
        self.app = Starlette(routes=[Route(path, self._handle, methods=["POST"])])

    def reset(self) -> None:
        self.requests.clear()
        self.script.clear()
        self.responder = lambda received: Reply(json=self.make_reply("## Nothing"))

    def reply(self, *replies: Reply) -> None:
        self.script.extend(replies)

    async def _handle(self, request: Request) -> Response:
        received = Received(request.url.path, dict(request.headers), await request.json())
        self.requests.append(received)
        reply = self.script.pop(0) if self.script else self.responder(received)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.body is not None:
            return Response(
                reply.body, status_code=reply.status, headers=reply.headers, media_type="application/json"
            )
        return JSONResponse(reply.json, status_code=reply.status, headers=reply.headers)
