"""Mastodon through each account's own server (no key): ``GET /api/v1/accounts/lookup?acct=`` once,
then ``GET /api/v1/accounts/:id/statuses`` newest first with ``since_id`` (the cursor) and
``max_id`` (the ``Link`` header's ``next``), until a page is short (fewer than ``limit``), has no
next, or reaches back past the cursor's time (less a clock-skew margin) or ``start_time``.

The server is the user's choice, so every request goes through the outbound guard
(``sources.guarded``): a host that resolves to a private address is refused unless
XTRACK_OUTBOUND_ALLOW_PRIVATE. XTRACK_MASTODON_BASE_URL sends every request to that one server
(it looks up remote accounts as ``user@host``). The account id kept for an account is the id on the
server that answered the lookup, so changing XTRACK_MASTODON_BASE_URL means following again."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from xtrack import outbound
from xtrack.db import utcnow
from xtrack.sources.base import (
    AccountInfo,
    AccountNotFound,
    AccountUnavailable,
    FetchResult,
    MalformedResponse,
    Post,
    RequestRejected,
    posts_in_window,
)
from xtrack.sources.guarded import guarded_transport
from xtrack.sources.http import Clock, RateLimit, Reply, SourceHttp
from xtrack.sources.ids import stop_reading_before
from xtrack.sources.mastodon_posts import parse_status, status_id

PAGE_SIZE = 40  # the API's maximum ``limit``
MAX_PAGES = 50


def https_server(host: str) -> str:
    return f"https://{host}"


class MastodonSource:
    """``name`` "mastodon": its own ``source_limits`` row and its own accounts."""

    name = "mastodon"

    def __init__(
        self,
        *,
        base_url: str | None,
        public_url: str,
        timeout: float,
        max_retries: int,
        allow_private: bool,
        retry_base_seconds: float = 1.0,
        clock: Clock = utcnow,
        page_size: int = PAGE_SIZE,
        max_pages: int = MAX_PAGES,
        server_url: Callable[[str], str] = https_server,
        max_connections: int = 50,
    ) -> None:
        self.base_url = base_url.rstrip("/") if base_url else None
        self.page_size = page_size
        self.max_pages = max_pages
        self.server_url = server_url
        self.transport = guarded_transport(
            allow_private=allow_private, max_connections=min(max_connections, 8)
        )
        self.http = SourceHttp(
            source_name=self.name,
            label="Mastodon",
            base_url="",
            public_url=public_url,
            timeout=timeout,
            max_retries=max_retries,
            retry_base_seconds=retry_base_seconds,
            clock=clock,
            max_connections=1,
            transport=self.transport,
            passthrough_statuses=frozenset({401, 403, 410}),
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    def _server(self, username: str) -> tuple[str, str, str]:
        """(server URL, the account's host, the ``acct`` to look up) for ``user@host``."""
        user, _, host = username.partition("@")
        if self.base_url:
            return self.base_url, host, username
        return self.server_url(host), host, user

    async def _get(self, url: str, params: dict[str, str | int], username: str) -> Reply:
        try:
            reply = await self.http.get(url, params=params)
        except outbound.OutboundRefused as exc:
            raise RequestRejected(f"@{username} cannot be read: {exc.message}") from None
        status = reply.response.status_code
        if status == 404:
            raise AccountNotFound(f"@{username} does not exist on Mastodon")
        if status == 410:
            raise AccountUnavailable(f"@{username} is suspended on Mastodon", state="suspended")
        if status in (401, 403):
            raise AccountUnavailable(
                f"@{username}'s server does not show its posts (HTTP {status})", state="protected"
            )
        return reply

    async def resolve(self, username: str) -> AccountInfo:
        server, _host, acct = self._server(username)
        reply = await self._get(f"{server}/api/v1/accounts/lookup", {"acct": acct}, username)
        body = reply.json()
        if not isinstance(body, Mapping) or body.get("id") is None:
            raise MalformedResponse("Mastodon account lookup: expected an account with an id")
        if body.get("suspended") is True:
            raise AccountUnavailable(f"@{username} is suspended on Mastodon", state="suspended")
        name = body.get("display_name") or body.get("username")
        return AccountInfo(
            username=username,
            external_id=str(body["id"])[:32],
            display_name=str(name)[:100] if name else None,
        )

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
        server, host, _acct = self._server(account.username)
        floor = int(since_id) if since_id is not None else None
        params: dict[str, str | int] = {"limit": self.page_size}
        native_since = status_id(floor) if floor is not None else None
        if native_since is not None:
            params["since_id"] = native_since
        stop_before = stop_reading_before(floor, start_time)
        url = f"{server}/api/v1/accounts/{quote(account.external_id, safe='')}/statuses"
        read: list[Post] = []
        requests = pages = 0
        gap = False
        limit = RateLimit(None, None)
        while True:
            reply = await self._get(url, params, account.username)
            requests += reply.attempts
            limit = reply.rate_limit
            statuses = reply.json()
            if not isinstance(statuses, list):
                raise MalformedResponse("Mastodon statuses: expected a list")
            page = [parse_status(status, username=account.username, server_host=host) for status in statuses]
            read.extend(page)
            pages += 1
            oldest = min((post.created_at for post in page), default=None)
            next_max = _next_max_id(reply, statuses)
            # A page shorter than ``limit`` is the last (a public timeline's pages are filled in the
            # query itself), which saves the empty page the ``Link`` header would lead to.
            if (
                len(page) < self.page_size
                or next_max is None
                or (stop_before is not None and oldest is not None and oldest < stop_before)
            ):
                break
            if pages >= self.max_pages:
                gap = True
                break
            params = {**params, "max_id": next_max}
        return FetchResult(
            posts=posts_in_window(read, floor=floor, start_time=start_time, end_time=end_time),
            gap=gap,
            gap_note=f"Mastodon: stopped after {pages} pages; older posts may be missing" if gap else None,
            requests=requests,
            posts_read=len(read),
            rate_limit_remaining=limit.remaining,
            rate_limit_reset_at=limit.reset_at,
        )


def _next_max_id(reply: Reply, statuses: list[Any]) -> str | None:
    """The ``max_id`` of the ``Link`` header's next page (None: no next page)."""
    link = reply.response.links.get("next")
    if not link or not statuses:
        return None
    found = parse_qs(urlsplit(str(link.get("url", ""))).query).get("max_id")
    if found:
        return found[0]
    last = statuses[-1]
    return str(last.get("id")) if isinstance(last, Mapping) and last.get("id") is not None else None
