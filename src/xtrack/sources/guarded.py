"""The outbound guard (``xtrack.outbound``) for an asynchronous HTTP client: a transport that
resolves each request's host once, checks every address, and connects to a checked address (the
request keeps its Host header and, over TLS, its server name), so a host that resolves to a
private address is refused and a name that changes its answer between check and connect (DNS
rebinding) cannot slip through. Used for hosts users choose (Mastodon servers).

Connections are pooled per host name, never per address alone: two servers behind one address (a
shared CDN) must not share a TLS connection made for the other's name."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable

import httpx

from xtrack import outbound

MAX_HOSTS = 256  # pools kept open at once; the least recently used is closed beyond this


class GuardedTransport(httpx.AsyncBaseTransport):
    """Raises ``outbound.OutboundRefused`` (message safe to show) for a refused host."""

    def __init__(
        self,
        pool: Callable[[], httpx.AsyncBaseTransport],
        *,
        allow_private: bool,
        max_hosts: int = MAX_HOSTS,
    ) -> None:
        self.pool = pool
        self.allow_private = allow_private
        self.max_hosts = max_hosts
        self.pools: OrderedDict[str, httpx.AsyncBaseTransport] = OrderedDict()

    async def _pool_for(self, host: str) -> httpx.AsyncBaseTransport:
        found = self.pools.get(host)
        if found is None:
            found = self.pools[host] = self.pool()
            while len(self.pools) > self.max_hosts:
                _host, oldest = self.pools.popitem(last=False)
                await oldest.aclose()
        self.pools.move_to_end(host)
        return found

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        addresses = await asyncio.to_thread(
            outbound.checked_addresses, host, allow_private=self.allow_private
        )
        address = addresses[0]
        pool = await self._pool_for(host)
        if address != host:
            if request.url.scheme == "https":
                request.extensions = {**request.extensions, "sni_hostname": host}
            request.url = request.url.copy_with(host=address)
        return await pool.handle_async_request(request)

    async def aclose(self) -> None:
        pools, self.pools = list(self.pools.values()), OrderedDict()
        for pool in pools:
            await pool.aclose()


def guarded_transport(*, allow_private: bool, max_connections: int) -> GuardedTransport:
    """Pooled transports (``max_connections`` per host) behind the guard."""
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    return GuardedTransport(lambda: httpx.AsyncHTTPTransport(limits=limits), allow_private=allow_private)
