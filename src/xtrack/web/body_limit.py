"""A ceiling on request bodies (``XTRACK_MAX_BODY_BYTES``), enforced before anything parses them.

A declared ``Content-Length`` over the limit is answered 413 without reading a byte of the body. A
body without one (chunked) is counted as it arrives: the read that crosses the limit raises
``BodyTooLarge``, an HTTP 413 that the error handlers render like any other (JSON for /api, a page
otherwise), so the process never holds more than the limit of one request's body.
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOO_LARGE = "The request body is too large."


class BodyTooLarge(HTTPException):
    def __init__(self) -> None:
        super().__init__(status_code=413, detail=TOO_LARGE)


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server (h11, httptools) refuses a malformed length itself
    return None


async def _refuse(scope: Scope, send: Send) -> None:
    """413 without the app: the body was never read, so nothing in the app has seen the request."""
    if scope["path"].startswith("/api/"):
        body, content_type = json.dumps({"detail": TOO_LARGE}).encode(), b"application/json"
    else:
        body, content_type = TOO_LARGE.encode(), b"text/plain; charset=utf-8"
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            # The unread body stays on the socket: the connection cannot be reused.
            "headers": [(b"content-type", content_type), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await _refuse(scope, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            # Raised where no error handler catches it (outside a route): answer it here if we still can.
            if started:
                raise
            await _refuse(scope, send)
