"""A stand-in Mastodon server written from the REST API docs: ``GET /api/v1/accounts/lookup?acct=``
(404 ``{"error": "Record not found"}``; a suspended account answers with ``suspended: true``),
``GET /api/v1/accounts/:id/statuses`` (``limit`` up to 40, ``max_id`` / ``since_id`` / ``min_id``,
newest first, a ``Link`` header with ``next`` and ``prev``; 410 for a suspended account), status
ids as ``(ms << 16) | sequence``, HTML ``content``, ``spoiler_text``, ``reblog``,
``in_reply_to_id``, and ``X-RateLimit-*`` headers (reset as an ISO 8601 time)."""

from __future__ import annotations

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


@dataclass
class FakeMastodonAccount:
    id: str
    acct: str  # "user" for a local account, "user@host" for a remote one
    display_name: str
    suspended: bool = False
    statuses: list[dict[str, Any]] = field(default_factory=list)  # newest last


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FakeMastodon:
    def __init__(self, host: str = "mastodon.test") -> None:
        self.host = host
        self.accounts: dict[str, FakeMastodonAccount] = {}
        self.by_id: dict[str, FakeMastodonAccount] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.faults: deque[Fault] = deque()
        self.statuses_served = 0
        self.reset_at = datetime.now(UTC) + timedelta(minutes=5)
        self._seq = 0
        self._next_account = 100
        self.app = Starlette(
            routes=[
                Route("/api/v1/accounts/lookup", self.lookup),
                Route("/api/v1/accounts/{account_id}/statuses", self.statuses),
            ]
        )

    def count(self, part: str) -> int:
        return sum(1 for path, _params in self.requests if part in path)

    def fail_next(
        self, status: int = 503, *, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> None:
        self.faults.append(
            Fault(
                status=status, body=json.dumps(body or {"error": "unavailable"}), headers=dict(headers or {})
            )
        )

    def add_account(self, acct: str, *, suspended: bool = False) -> FakeMastodonAccount:
        self._next_account += 1
        account = FakeMastodonAccount(
            id=str(self._next_account),
            acct=acct,
            display_name=acct.split("@")[0].title(),
            suspended=suspended,
        )
        self.accounts[acct.lower()] = account
        self.by_id[account.id] = account
        return account

    def _status_id(self, at: datetime) -> str:
        self._seq = (self._seq + 1) % 65536
        return str((int(at.timestamp() * 1000) << 16) | self._seq)

    def _account_view(self, account: FakeMastodonAccount) -> dict[str, Any]:
        user = account.acct.split("@")[0]
        host = account.acct.split("@")[1] if "@" in account.acct else self.host
        return {
            "id": account.id,
            "username": user,
            "acct": account.acct,
            "display_name": account.display_name,
            "url": f"https://{host}/@{user}",
        }

    def post(
        self,
        account: FakeMastodonAccount,
        html: str,
        at: datetime,
        *,
        spoiler: str = "",
        reply_to: str | None = None,
    ) -> str:
        status_id = self._status_id(at)
        user = account.acct.split("@")[0]
        account.statuses.append(
            {
                "id": status_id,
                "created_at": _iso(at),
                "in_reply_to_id": reply_to,
                "in_reply_to_account_id": account.id if reply_to else None,
                "sensitive": bool(spoiler),
                "spoiler_text": spoiler,
                "visibility": "public",
                "language": "en",
                "uri": f"https://{self.host}/users/{user}/statuses/{status_id}",
                "url": f"https://{self.host}/@{user}/{status_id}",
                "replies_count": 0,
                "reblogs_count": 1,
                "favourites_count": 4,
                "content": html,
                "reblog": None,
                "account": self._account_view(account),
                "media_attachments": [],
                "mentions": [],
                "tags": [],
            }
        )
        return status_id

    def reblog(
        self, account: FakeMastodonAccount, original: FakeMastodonAccount, original_id: str, at: datetime
    ) -> str:
        inner = next(s for s in original.statuses if s["id"] == original_id)
        status_id = self._status_id(at)
        user = account.acct.split("@")[0]
        account.statuses.append(
            {
                "id": status_id,
                "created_at": _iso(at),
                "in_reply_to_id": None,
                "in_reply_to_account_id": None,
                "spoiler_text": "",
                "uri": f"https://{self.host}/users/{user}/statuses/{status_id}/activity",
                "url": None,
                "content": "",
                "reblog": inner,
                "account": self._account_view(account),
                "media_attachments": [],
            }
        )
        return status_id

    def add_posts(
        self, account: FakeMastodonAccount, count: int, *, start: datetime, step: timedelta
    ) -> list[str]:
        return [self.post(account, f"<p>toot {i} about chips</p>", start + step * i) for i in range(count)]

    def delete(self, account: FakeMastodonAccount, status_id: str) -> None:
        account.statuses = [s for s in account.statuses if s["id"] != status_id]

    def _headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": "299",
            "X-RateLimit-Reset": _iso(self.reset_at),
        }

    async def _intercept(self, request: Request) -> Response | None:
        self.requests.append((request.url.path, dict(request.query_params)))
        if self.faults:
            fault = self.faults.popleft()
            return Response(
                fault.body, status_code=fault.status, headers=fault.headers, media_type="application/json"
            )
        return None

    async def lookup(self, request: Request) -> Response:
        if (fault := await self._intercept(request)) is not None:
            return fault
        acct = request.query_params.get("acct", "").lower()
        account = self.accounts.get(acct) or self.accounts.get(acct.removesuffix(f"@{self.host}"))
        if account is None:
            return JSONResponse({"error": "Record not found"}, 404, headers=self._headers())
        view = self._account_view(account)
        if account.suspended:
            view["suspended"] = True
        return JSONResponse(view, headers=self._headers())

    async def statuses(self, request: Request) -> Response:
        if (fault := await self._intercept(request)) is not None:
            return fault
        account = self.by_id.get(request.path_params["account_id"])
        if account is None:
            return JSONResponse({"error": "Record not found"}, 404)
        if account.suspended:
            return JSONResponse({"error": "This account has been suspended"}, 410)
        query = request.query_params
        limit = min(int(query.get("limit", "20")), 40)
        items = sorted(account.statuses, key=lambda s: int(s["id"]), reverse=True)
        if "max_id" in query:
            items = [s for s in items if int(s["id"]) < int(query["max_id"])]
        if "since_id" in query:
            items = [s for s in items if int(s["id"]) > int(query["since_id"])]
        page = items[:limit]
        self.statuses_served += len(page)
        headers = self._headers()
        if page:
            base = f"http://{request.url.netloc}{request.url.path}"
            headers["Link"] = (
                f'<{base}?max_id={page[-1]["id"]}>; rel="next", <{base}?min_id={page[0]["id"]}>; rel="prev"'
            )
        return JSONResponse(page, headers=headers)
