"""The source XTRACK_SOURCE names, built with one pooled client (the runtime keeps one per process)."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from xtrack.config import Settings
from xtrack.sources.demo import DemoSource
from xtrack.sources.registry import build_source
from xtrack.sources.rss import RssSource
from xtrack.sources.twitterapi import TwitterApiSource
from xtrack.sources.x import XSource


async def test_demo_is_the_default() -> None:
    demo = build_source(Settings())
    assert isinstance(demo, DemoSource)
    await demo.aclose()


async def test_each_networked_source_gets_one_pooled_client_closed_at_shutdown() -> None:
    x_settings = Settings(
        source="x",
        x_bearer_token=SecretStr("token"),
        x_api_url="http://127.0.0.1:9/",
        base_url="https://xtrack.example",
        source_timeout_seconds=7,
    )
    x = build_source(x_settings)
    assert isinstance(x, XSource)
    # XTRACK_SOURCE_MAX_CONNECTIONS (1,000) in shards of at most 4 connections, all configured alike.
    clients = x.http.clients
    assert len(clients) == 250
    for client in clients:
        assert str(client.base_url) == "http://127.0.0.1:9"
        assert client.headers["user-agent"].endswith("(+https://xtrack.example)")
        assert client.timeout.read == 7
    twitterapi = build_source(Settings(source="twitterapi", twitterapi_key=SecretStr("k")))
    rss = build_source(Settings(source="rss", rss_url_template="http://127.0.0.1:9/{username}/rss"))
    assert isinstance(twitterapi, TwitterApiSource) and isinstance(rss, RssSource)

    for source in (x, twitterapi, rss):
        await source.aclose()
    assert all(client.is_closed for client in clients)


def test_missing_keys_fail_clearly() -> None:
    broken = Settings(source="demo").model_copy(update={"source": "x"})
    with pytest.raises(Exception, match="XTRACK_X_BEARER_TOKEN"):
        build_source(broken)
