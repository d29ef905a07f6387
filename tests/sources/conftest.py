from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.fakes.server import serve_app
from tests.sources.fakes import FakeFeed, FakeTwitterApi, FakeX
from xtrack.sources.rss import RssSource
from xtrack.sources.twitterapi import TwitterApiSource
from xtrack.sources.x import XSource


@pytest.fixture
def fake_x() -> Iterator[tuple[FakeX, str]]:
    fake = FakeX()
    with serve_app(fake.app) as base_url:
        yield fake, base_url


@pytest.fixture
async def x_source(fake_x: tuple[FakeX, str]) -> AsyncIterator[XSource]:
    _fake, base_url = fake_x
    source = XSource(
        base_url=base_url,
        bearer_token="good-token",
        public_url="http://xtrack.test",
        timeout=2.0,
        max_retries=2,
        retry_base_seconds=0.01,
    )
    yield source
    await source.aclose()


@pytest.fixture
def fake_twitterapi() -> Iterator[tuple[FakeTwitterApi, str]]:
    fake = FakeTwitterApi()
    with serve_app(fake.app) as base_url:
        yield fake, base_url


@pytest.fixture
async def twitterapi_source(fake_twitterapi: tuple[FakeTwitterApi, str]) -> AsyncIterator[TwitterApiSource]:
    _fake, base_url = fake_twitterapi
    source = TwitterApiSource(
        base_url=base_url,
        api_key="good-key",
        public_url="http://xtrack.test",
        timeout=2.0,
        max_retries=2,
        retry_base_seconds=0.01,
    )
    yield source
    await source.aclose()


@pytest.fixture
def fake_feed() -> Iterator[tuple[FakeFeed, str]]:
    fake = FakeFeed()
    with serve_app(fake.app) as base_url:
        yield fake, base_url


@pytest.fixture
async def rss_source(fake_feed: tuple[FakeFeed, str]) -> AsyncIterator[RssSource]:
    _fake, base_url = fake_feed
    source = RssSource(
        url_template=base_url + "/{username}/rss",
        public_url="http://xtrack.test",
        timeout=2.0,
        max_retries=1,
        retry_base_seconds=0.01,
    )
    yield source
    await source.aclose()
