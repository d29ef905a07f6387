"""``Allow`` says every method a path supports: OPTIONS is answered 204 with it, and a 405 carries
the full list (Starlette's own 405 names only the methods of the first route that matched the path,
so ``GET /api/v1/jobs`` and ``POST /api/v1/jobs``, two routes, answered ``Allow: GET``)."""

from __future__ import annotations

from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CANDIDATES = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(routes: list[BaseRoute], scope: Scope) -> list[str]:
    """The methods some route (included routers too) fully matches for this path, plus OPTIONS;
    empty when none does. Mounted static files answer for themselves."""
    allowed = [
        method
        for method in CANDIDATES
        if any(
            not isinstance(route, Mount) and route.matches({**scope, "method": method})[0] == Match.FULL
            for route in routes
        )
    ]
    return [*allowed, "OPTIONS"] if allowed else []


class AllowMiddleware:
    def __init__(self, app: ASGIApp, *, routes: list[BaseRoute]) -> None:
        self.app = app
        self.routes = routes  # the app's route list, filled after this middleware is added

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and (allowed := allowed_methods(self.routes, scope)):
            headers = [(b"allow", ", ".join(allowed).encode()), (b"content-length", b"0")]
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_allow(message: Message) -> None:
            allowed = (
                message["type"] == "http.response.start"
                and message["status"] == 405
                and (allowed_methods(self.routes, scope))
            )
            if allowed:
                headers = [(name, value) for name, value in message.get("headers", []) if name != b"allow"]
                message["headers"] = [*headers, (b"allow", ", ".join(allowed).encode())]
            await send(message)

        await self.app(scope, receive, send_with_allow)
