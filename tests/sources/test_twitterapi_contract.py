"""twitterapi.io fed the answers its documentation shows (docs.twitterapi.io: advanced search returns
``tweets``, ``has_next_page`` and ``next_cursor``; a tweet has ``author.userName``, and a repost or
a quote the whole ``retweeted_tweet`` / ``quoted_tweet``; 402 when the credits run out)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.sources.fakes import FakeTwitterApi
from xtrack.sources.base import AccountInfo, QuotaExhausted
from xtrack.sources.ids import snowflake
from xtrack.sources.twitterapi import TwitterApiSource

START = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
ACCOUNT = AccountInfo("alice", "44196397")
LONG = " ".join(f"word{n}" for n in range(110))  # ~800 characters: a long post, whole


def search_tweet(minutes: int, author: str, text: str, **extra: Any) -> dict[str, Any]:
    created = START + timedelta(minutes=minutes)
    post_id = str(snowflake(created, minutes % 4096))
    return {
        "type": "tweet",
        "id": post_id,
        "url": f"https://x.com/{author}/status/{post_id}",
        "text": text,
        "createdAt": created.strftime("%a %b %d %H:%M:%S +0000 %Y"),
        "lang": "en",
        "retweetCount": 3,
        "replyCount": 1,
        "likeCount": 9,
        "quoteCount": 0,
        "viewCount": 250,
        "bookmarkCount": 0,
        "isReply": False,
        "author": {"type": "user", "userName": author, "id": "44196397", "name": author.title()},
        **extra,
    }


async def test_reposts_and_quotes_come_whole_with_their_authors(
    fake_twitterapi: tuple[FakeTwitterApi, str], twitterapi_source: TwitterApiSource
) -> None:
    fake, _ = fake_twitterapi
    original = search_tweet(-30, "bob", LONG)
    quoted = search_tweet(-40, "carol", "Carol's finding " + LONG)
    fake.search_script.append(
        (
            200,
            {
                "tweets": [
                    search_tweet(2, "alice", "Read this", quoted_tweet=quoted),
                    search_tweet(1, "alice", f"RT @bob: {LONG[:110]}…", retweeted_tweet=original),
                ],
                "has_next_page": False,
                "next_cursor": "",
            },
        )
    )

    result = await twitterapi_source.fetch(ACCOUNT, since_id=None, start_time=START)

    repost, quote = result.posts
    assert repost.is_repost and repost.original_author == "bob" and repost.text == LONG
    assert repost.author_username == "alice"
    assert quote.is_quote and quote.text == "Read this"
    assert quote.quoted_author == "carol" and quote.quoted_text == "Carol's finding " + LONG
    assert "include:nativeretweets" in fake.queries[0].split()
    assert result.posts_read == 2 and result.gap is False


async def test_a_cursor_that_repeats_stops_the_poll_with_a_gap(
    fake_twitterapi: tuple[FakeTwitterApi, str], twitterapi_source: TwitterApiSource
) -> None:
    fake, _ = fake_twitterapi
    same = {
        "tweets": [search_tweet(5, "alice", "the same page")],
        "has_next_page": True,
        "next_cursor": "DAAC-same",
    }
    for _ in range(50):
        fake.search_script.append((200, same))

    result = await twitterapi_source.fetch(ACCOUNT, since_id=None, start_time=START)

    assert fake.count("advanced_search") == 2  # the first page, then the cursor came back again
    assert result.gap is True and result.gap_note is not None and "repeated a page cursor" in result.gap_note
    assert [post.text for post in result.posts] == ["the same page"]


async def test_empty_pages_that_say_there_is_more_stop_after_two(
    fake_twitterapi: tuple[FakeTwitterApi, str], twitterapi_source: TwitterApiSource
) -> None:
    fake, _ = fake_twitterapi
    for n in range(50):
        fake.search_script.append((200, {"tweets": [], "has_next_page": True, "next_cursor": f"c{n}"}))

    result = await twitterapi_source.fetch(ACCOUNT, since_id=None, start_time=START)

    assert fake.count("advanced_search") == 2
    assert result.gap is True and "empty pages" in (result.gap_note or "")


async def test_a_poll_reads_at_most_max_pages(fake_twitterapi: tuple[FakeTwitterApi, str]) -> None:
    fake, base_url = fake_twitterapi
    for n in range(50):
        page = {
            "tweets": [search_tweet(100 - n, "alice", f"post {n}")],
            "has_next_page": True,
            "next_cursor": f"c{n}",
        }
        fake.search_script.append((200, page))
    source = TwitterApiSource(
        base_url=base_url, api_key="good-key", public_url="http://t", timeout=2, max_retries=0, max_pages=5
    )
    try:
        result = await source.fetch(ACCOUNT, since_id=None, start_time=START)
    finally:
        await source.aclose()

    assert fake.count("advanced_search") == 5
    assert result.requests == 5 and len(result.posts) == 5
    assert result.gap is True and "XTRACK_TWITTERAPI_MAX_PAGES" in (result.gap_note or "")


async def test_402_is_quota_exhausted(
    fake_twitterapi: tuple[FakeTwitterApi, str], twitterapi_source: TwitterApiSource
) -> None:
    fake, _ = fake_twitterapi
    fake.search_script.append((402, {"error": 402, "message": "Credits is not enough. Please recharge"}))

    with pytest.raises(QuotaExhausted) as caught:
        await twitterapi_source.fetch(ACCOUNT, since_id=None, start_time=START)

    assert caught.value.kind == "quota_exhausted"
    assert caught.value.message == "twitterapi.io credits are used up"
    assert fake.count("advanced_search") == 1
