"""The post source ``XTRACK_SOURCE`` names. A process builds one (one pooled HTTP client) when it
starts and closes it when it stops (the runtime does both)."""

from __future__ import annotations

from xtrack.config import ConfigError, Settings
from xtrack.sources.base import Source
from xtrack.sources.demo import DemoSource
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
