"""The RSS source against a local feed with ETag / Last-Modified."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.fakes.server import serve_app
from tests.sources.fakes import FakeFeed
from xtrack.sources.base import AccountInfo, AccountNotFound, MalformedResponse
from xtrack.sources.ids import snowflake_time
from xtrack.sources.rss import RssSource, html_to_text

START = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


async def test_ids_from_status_urls_and_conditional_get(
    fake_feed: tuple[FakeFeed, str], rss_source: RssSource
) -> None:
    fake, _ = fake_feed
    user = fake.add_user("alice")
    ids = fake.add_posts(user, 5, start=START, step=timedelta(minutes=1))
    account = await rss_source.resolve("alice")

    first = await rss_source.fetch(account, since_id=None, start_time=START)
    assert [p.external_id for p in first.posts] == ids
    assert first.etag and first.last_modified
    assert first.posts[0].text == "post 0 of alice #AI"
    assert first.posts[0].author_username == "alice"
    assert first.posts[0].created_at == START

    second = await rss_source.fetch(
        account, since_id=ids[-1], start_time=START, etag=first.etag, last_modified=first.last_modified
    )
    assert second.not_modified is True and second.posts == []
    assert fake.requests[-1][2]["if-none-match"] == first.etag
    assert fake.requests[-1][2]["if-modified-since"] == first.last_modified

    new = fake.add_posts(user, 2, start=START + timedelta(minutes=10))
    third = await rss_source.fetch(account, since_id=ids[-1], start_time=START, etag=first.etag)
    assert [p.external_id for p in third.posts] == new
    assert third.gap is False  # the feed still holds the cursor


async def test_items_without_status_urls_get_snowflakes_from_their_date() -> None:
    fake = FakeFeed(status_links=False)
    user = fake.add_user("blog")
    fake.add_posts(user, 3, start=START, step=timedelta(minutes=5))
    with serve_app(fake.app) as base_url:
        source = RssSource(
            url_template=base_url + "/{username}/rss", public_url="http://t", timeout=2, max_retries=0
        )
        try:
            result = await source.fetch(AccountInfo("blog", "blog"), since_id=None, start_time=START)
            again = await source.fetch(AccountInfo("blog", "blog"), since_id=None, start_time=START)
        finally:
            await source.aclose()
    assert [snowflake_time(p.external_id) for p in result.posts] == [
        START,
        START + timedelta(minutes=5),
        START + timedelta(minutes=10),
    ]
    assert [p.external_id for p in again.posts] == [p.external_id for p in result.posts]  # stable


async def test_a_feed_that_no_longer_reaches_the_cursor_reports_a_gap(
    fake_feed: tuple[FakeFeed, str], rss_source: RssSource
) -> None:
    fake, _ = fake_feed
    user = fake.add_user("alice")
    ids = fake.add_posts(user, 3, start=START)
    fake.add_posts(user, 25, start=START + timedelta(hours=1))  # more than the feed's 20 items
    result = await rss_source.fetch(AccountInfo("alice", "alice"), since_id=ids[-1], start_time=START)
    assert len(result.posts) == 20
    assert result.gap is True


async def test_unknown_feed_and_garbage(fake_feed: tuple[FakeFeed, str], rss_source: RssSource) -> None:
    fake, _ = fake_feed
    with pytest.raises(AccountNotFound):
        await rss_source.fetch(AccountInfo("ghost", "ghost"), since_id=None, start_time=START)
    fake.add_user("alice")
    fake.fail_next(200, body="\x00\x01 this is not a feed <<<")
    with pytest.raises(MalformedResponse):
        await rss_source.fetch(AccountInfo("alice", "alice"), since_id=None, start_time=START)


def test_html_to_text() -> None:
    assert html_to_text("<p>Hello &amp; <b>bye</b></p><p>second<br>line</p>") == "Hello & bye\nsecond\nline"
