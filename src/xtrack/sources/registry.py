"""The post source ``XTRACK_SOURCE`` names, and beside it the sources of the open networks
(``build_sources``). A process builds them (one pooled HTTP client each) when it starts and closes
them when it stops (the runtime does both)."""

from __future__ import annotations

from xtrack.config import ConfigError, Settings
from xtrack.sources.base import Source
from xtrack.sources.bluesky import BlueskySource
from xtrack.sources.demo import DemoSource
from xtrack.sources.handles import Network
from xtrack.sources.mastodon import MastodonSource
from xtrack.sources.networks import NetworkSources
from xtrack.sources.rss import RssSource
from xtrack.sources.twitterapi import TwitterApiSource
from xtrack.sources.x import XSource


def _secret(value: object) -> str | None:
    getter = getattr(value, "get_secret_value", None)
    return str(getter()) if getter is not None else None


def build_source(settings: Settings) -> Source:
    """A new source for ``settings`` (callers own it and must ``aclose()`` it)."""
    common = {
        "public_url": settings.base_url,
        "timeout": settings.source_timeout_seconds,
        "max_retries": settings.source_max_retries,
        "max_connections": settings.source_max_connections,
    }
    if settings.source == "demo":
        return DemoSource()
    if settings.source == "x":
        token = _secret(settings.x_bearer_token)
        if not token:
            raise ConfigError("XTRACK_X_BEARER_TOKEN is required when XTRACK_SOURCE=x")
        return XSource(base_url=settings.x_api_url, bearer_token=token, **common)  # type: ignore[arg-type]
    if settings.source == "twitterapi":
        key = _secret(settings.twitterapi_key)
        if not key:
            raise ConfigError("XTRACK_TWITTERAPI_KEY is required when XTRACK_SOURCE=twitterapi")
        return TwitterApiSource(
            base_url=settings.twitterapi_url,
            api_key=key,
            max_pages=settings.twitterapi_max_pages,
            **common,  # type: ignore[arg-type]
        )
    if settings.source == "rss":
        if not settings.rss_url_template:
            raise ConfigError("XTRACK_RSS_URL_TEMPLATE is required when XTRACK_SOURCE=rss")
        return RssSource(url_template=settings.rss_url_template, **common)  # type: ignore[arg-type]
    raise ConfigError(f"XTRACK_SOURCE: unknown source '{settings.source}'")


# The open networks need far fewer connections than X's provider: they are polled, not billed.
OPEN_NETWORK_CONNECTIONS = 100


def build_sources(settings: Settings) -> Source:
    """Every network's source: X through ``build_source``, Bluesky through XTRACK_BLUESKY_API_URL,
    Mastodon through each account's server (or XTRACK_MASTODON_BASE_URL), behind the outbound
    guard. The demo source plays every network itself."""
    x = build_source(settings)
    if settings.source == "demo":
        return x
    common = {
        "public_url": settings.base_url,
        "timeout": settings.source_timeout_seconds,
        "max_retries": settings.source_max_retries,
        "max_connections": min(settings.source_max_connections, OPEN_NETWORK_CONNECTIONS),
    }
    bluesky = BlueskySource(base_url=settings.bluesky_api_url, **common)  # type: ignore[arg-type]
    mastodon = MastodonSource(
        base_url=settings.mastodon_base_url,
        allow_private=settings.allow_private_outbound,
        **common,  # type: ignore[arg-type]
    )
    return NetworkSources(x, {Network.BLUESKY: bluesky, Network.MASTODON: mastodon})
