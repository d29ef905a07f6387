"""One source per network: X accounts through the X provider ``XTRACK_SOURCE`` names, Bluesky and
Mastodon accounts through their own sources. ``NetworkSources`` is itself the X source for code
that speaks to one source (its name, its attributes, its calls), and ``source_for`` picks the
source of an account by the form of its handle (``sources.handles``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from xtrack.sources.base import AccountInfo, FetchResult, Source
from xtrack.sources.handles import Network, network_of


class NetworkSources:
    """X's source plus the sources of the other networks; closing it closes them all."""

    def __init__(self, x: Source, others: Mapping[Network, Source]) -> None:
        self.x = x
        self.others = dict(others)
        self.name = x.name

    def __getattr__(self, attribute: str) -> Any:
        # X's optional attributes (timeline_depth, fetches_by_username, http...) read through.
        return getattr(self.x, attribute)

    def for_account(self, account: str) -> Source:
        return self.others.get(network_of(account), self.x)

    def sources(self) -> dict[Network, Source]:
        """Each network's source (X's included)."""
        return {Network.X: self.x, **self.others}

    async def resolve(self, username: str) -> AccountInfo:
        return await self.for_account(username).resolve(username)

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
        return await self.for_account(account.username).fetch(
            account,
            since_id=since_id,
            start_time=start_time,
            etag=etag,
            last_modified=last_modified,
            end_time=end_time,
        )

    async def aclose(self) -> None:
        for source in (self.x, *self.others.values()):
            await source.aclose()


def source_name_for(x_source: str, account: str) -> str:
    """The name of the source that reads ``account`` when XTRACK_SOURCE is ``x_source`` (the
    ``x_accounts.source`` of its row): X's provider for X and for every network of the demo, else
    the network's own source."""
    network = network_of(account)
    return x_source if x_source == "demo" or network is Network.X else network.value


def source_for(source: Source, account: str) -> Source:
    """The source that reads ``account``: its network's when ``source`` routes by network (a
    ``NetworkSources``), else ``source`` itself (the demo source plays every network)."""
    route = getattr(source, "for_account", None)
    return route(account) if callable(route) else source
