"""The outbound guard (``xtrack.outbound``) for an asynchronous HTTP client: a transport that
resolves each request's host once, checks every address, and connects to a checked address (the
request keeps its Host header and, over TLS, its server name), so a host that resolves to a
private address is refused and a name that changes its answer between check and connect (DNS
rebinding) cannot slip through. Used for hosts users choose (Mastodon servers)."""

from __future__ import annotations

import asyncio

import httpx

from xtrack import outbound


class GuardedTransport(httpx.AsyncBaseTransport):
    """Raises ``outbound.OutboundRefused`` (message safe to show) for a refused host."""

    def __init__(self, inner: httpx.AsyncBaseTransport, *, allow_private: bool) -> None:
        self.inner = inner
        self.allow_private = allow_private

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        addresses = await asyncio.to_thread(
            outbound.checked_addresses, host, allow_private=self.allow_private
        )
        address = addresses[0]
        if address != host:
            if request.url.scheme == "https":
                request.extensions = {**request.extensions, "sni_hostname": host}
            request.url = request.url.copy_with(host=address)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def guarded_transport(*, allow_private: bool, max_connections: int) -> GuardedTransport:
    """A pooled transport behind the guard."""
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    return GuardedTransport(httpx.AsyncHTTPTransport(limits=limits), allow_private=allow_private)
