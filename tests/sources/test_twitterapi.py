"""The twitterapi.io client over real HTTP against a local fake."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.sources.fakes import FakeTwitterApi
from xtrack.sources.base import (
    AccountInfo,
    AccountNotFound,
    AccountUnavailable,
    BadCredentials,
    MalformedResponse,
    SourceRateLimited,
    TransientSourceError,
)
from xtrack.sources.ids import snowflake
from xtrack.sources.twitterapi import TwitterApiSource, search_query

START = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def test_query_uses_the_later_of_window_start_and_cursor_time() -> None:
    cursor = str(snowflake(datetime(2026, 11, 24, 13, 0, 5, tzinfo=UTC)))
    assert (
        search_query("alice", since_id=None, start_time=START)
        == "from:alice include:nativeretweets since:2026-11-24_12:00:00_UTC"
    )
    assert (
        search_query("alice", since_id=cursor, start_time=START)
        == "from:alice include:nativeretweets since:2026-11-24_13:00:04_UTC"
    )


async def test_250_new_posts_across_pages_each_once(
    fake_twitterapi: tuple[FakeTwitterApi, str], twitterapi_source: TwitterApiSource
) -> None:
    fake, _ = fake_twitterapi
    user = fake.add_user("alice")
    ids = fake.add_posts(user, 250, start=START)

    account = await twitterapi_source.resolve("alice")
    result = await twitterapi_source.fetch(account, since_id=None, start_time=START)

    assert account.external_id == user.id
    assert [p.external_id for p in result.posts] == ids
    assert fake.count("advanced_search") == 13  # 20 a page
    searches = [params for path, params, _ in fake.requests if "advanced_search" in path]
    assert searches[0]["query"] == "from:alice include:nativeretweets since:2026-11-24_12:00:00_UTC"
    assert searches[0]["queryType"] == "Latest"
    assert [s["cursor"] for s in searches[:3]] == ["", "20", "40"]
    assert fake.requests[0][2]["x-api-key"] == "good-key"
    assert result.posts[0].metrics["likes"] == 5
    assert result.posts[0].created_at == START


async def test_stops_paging_at_the_cursor_and_since_id_is_exclusive(
    fake_twitterapi: tuple[FakeTwitterApi, str], twitterapi_source: TwitterApiSource
) -> None:
    fake, _ = fake_twitterapi
    user = fake.add_user("alice")
    # Same second for many posts: the since: operator alone would return the cursor's neighbours.
    ids = fake.add_posts(user, 100, start=START, step=timedelta(milliseconds=10))
    result = await twitterapi_source.fetch(AccountInfo("alice", user.id), since_id=ids[69], start_time=START)
    assert [p.external_id for p in result.posts] == ids[70:]
    assert fake.count("advanced_search") == 2  # page 2 holds the cursor: no third page


async def test_unknown_and_suspended_users(
    fake_twitterapi: tuple[FakeTwitterApi, str], twitterapi_source: TwitterApiSource
) -> None:
    fake, _ = fake_twitterapi
    fake.add_user("banned", suspended=True)
    with pytest.raises(AccountNotFound):
        await twitterapi_source.resolve("nobody")
    with pytest.raises(AccountUnavailable) as caught:
        await twitterapi_source.resolve("banned")
    assert caught.value.state == "suspended"


async def test_bad_key(fake_twitterapi: tuple[FakeTwitterApi, str]) -> None:
    _fake, base_url = fake_twitterapi
    source = TwitterApiSource(
        base_url=base_url, api_key="nope", public_url="http://t", timeout=2, max_retries=2
    )
    try:
        with pytest.raises(BadCredentials):
            await source.resolve("alice")
    finally:
        await source.aclose()


async def test_429_with_retry_after_then_no_request_before_it(
    fake_twitterapi: tuple[FakeTwitterApi, str], twitterapi_source: TwitterApiSource
) -> None:
    fake, _ = fake_twitterapi
    user = fake.add_user("alice")
    fake.fail_next(429, headers={"retry-after": "3"})
    before = datetime.now(UTC)
    with pytest.raises(SourceRateLimited) as caught:
        await twitterapi_source.fetch(AccountInfo("alice", user.id), since_id=None, start_time=START)
    assert before + timedelta(seconds=2) < caught.value.reset_at < before + timedelta(seconds=5)
    with pytest.raises(SourceRateLimited):
        await twitterapi_source.fetch(AccountInfo("alice", user.id), since_id=None, start_time=START)
    assert len(fake.requests) == 1


async def test_503_then_success_and_timeout_and_malformed(
    fake_twitterapi: tuple[FakeTwitterApi, str], twitterapi_source: TwitterApiSource
) -> None:
    fake, base_url = fake_twitterapi
    user = fake.add_user("alice")
    fake.add_posts(user, 3, start=START)
    account = AccountInfo("alice", user.id)

    fake.fail_next(502)
    assert len((await twitterapi_source.fetch(account, since_id=None, start_time=START)).posts) == 3

    fake.fail_next(200, body="<html>gateway</html>")
    with pytest.raises(MalformedResponse):
        await twitterapi_source.fetch(account, since_id=None, start_time=START)

    slow = TwitterApiSource(
        base_url=base_url, api_key="good-key", public_url="http://t", timeout=0.2, max_retries=0
    )
    fake.fail_next(200, delay=1.0)
    started = time.monotonic()
    try:
        with pytest.raises(TransientSourceError):
            await slow.fetch(account, since_id=None, start_time=START)
    finally:
        await slow.aclose()
    assert time.monotonic() - started < 1.0
