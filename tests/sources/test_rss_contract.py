"""RSS bridges as they really answer, over real HTTP: RSSHub's error page (lib/errors and
lib/views/error in DIYgod/RSSHub: 503/403/404 with "Error Message:" and a ``<code>``), Nitter's
error panel and RSS feeds ("RT by @account:" reposts linking to the original, ``dc:creator`` the
original's author), RSSHub's twitter feed (``<author>`` the display name, "RT Name:" reposts), a bot
check in front of a bridge and a feed "not whitelisted" for this reader."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from tests.sources.fakes import FakeFeed
from xtrack.sources.base import AccountInfo, AccountNotFound, TransientSourceError
from xtrack.sources.bridges import FeedUnavailable
from xtrack.sources.ids import snowflake
from xtrack.sources.rss import RssSource

START = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
ALICE = AccountInfo("alice", "alice")


def rsshub_error_page(message: str) -> str:
    return (
        '<!DOCTYPE html><html><head><title>RSSHub</title></head><body><div class="w-full h-screen">'
        '<img src="/logo.png" alt="RSSHub"/>'
        '<h1 class="text-4xl font-bold">Looks like something went wrong</h1>'
        '<div class="space-y-2"><p class="mb-2 font-bold">Helpful Information</p>'
        f'<p class="message">Error Message:<br/><code class="mt-2 block details">{message}</code></p>'
        '<p class="message">Route: <code class="ml-2">/twitter/user/:id/:routeParams?</code></p>'
        '<p class="message">Full Route: <code class="ml-2">/twitter/user/alice</code></p>'
        "</div></div></body></html>"
    )


ANUBIS_BOT_CHECK = (
    '<!doctype html><html lang="en"><head><title>Making sure you&#39;re not a bot!</title>'
    '<script id="anubis_challenge" type="application/json">{"rules":{"difficulty":4}}</script></head>'
    '<body><main><h1 id="title">Making sure you&#39;re not a bot!</h1><p>Loading...</p>'
    "<p>You are seeing this because the administrator of this website has set up Anubis to protect the "
    "server against the scourge of AI companies aggressively scraping websites.</p></main></body></html>"
)


def item(title: str, link: str, when: datetime, *, creator: str, body: str | None = None) -> str:
    return (
        f"<item><title>{title}</title><dc:creator>{creator}</dc:creator>"
        f"<description>&lt;p&gt;{body or title}&lt;/p&gt;</description>"
        f"<pubDate>{format_datetime(when, usegmt=True)}</pubDate>"
        f"<guid>{link}</guid><link>{link}</link></item>"
    )


def feed(items: list[str], *, title: str = "Alice / @alice") -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom">'
        f"<channel><title>{title}</title><link>https://nitter.example/alice</link>"
        f"<description>Twitter feed for: @alice.</description>{''.join(items)}</channel></rss>"
    )


def status(minutes: float) -> tuple[str, datetime]:
    when = START + timedelta(minutes=minutes)
    return str(snowflake(when, 7)), when


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (503, "ConfigNotFoundError: Twitter API is not configured"),
        (404, "Error: Request failed with status code 429 Too Many Requests"),  # older RSSHub: 404 for all
        (403, "RejectError: Authentication failed. Access denied."),
    ],
)
async def test_an_rsshub_error_page_is_the_bridge_s_message(
    fake_feed: tuple[FakeFeed, str], rss_source: RssSource, status: int, message: str
) -> None:
    fake, _ = fake_feed
    fake.fail_next(
        status, body=rsshub_error_page(message), headers={"content-type": "text/html; charset=utf-8"}
    )

    with pytest.raises(FeedUnavailable) as caught:
        await rss_source.fetch(ALICE, since_id=None, start_time=START)

    assert caught.value.kind == "source_unavailable"
    assert caught.value.message == f"the RSS bridge answered HTTP {status} for @alice: {message}"
    assert len(fake.requests) == 1  # the bridge's verdict, not retried within the run


async def test_only_a_recognisable_404_means_the_account_does_not_exist(
    fake_feed: tuple[FakeFeed, str], rss_source: RssSource
) -> None:
    fake, _ = fake_feed
    with pytest.raises(AccountNotFound) as caught:
        await rss_source.fetch(AccountInfo("ghost", "ghost"), since_id=None, start_time=START)
    assert 'User "ghost" not found' in caught.value.message

    fake.fail_next(
        404, body="<html><body>404 page not found</body></html>", headers={"content-type": "text/html"}
    )
    with pytest.raises(FeedUnavailable):
        await rss_source.fetch(AccountInfo("ghost", "ghost"), since_id=None, start_time=START)


@pytest.mark.parametrize(
    ("status", "body", "content_type", "said"),
    [
        (200, ANUBIS_BOT_CHECK, "text/html; charset=utf-8", "Making sure you're not a bot!"),
        (
            200,
            "RSS reader not yet whitelisted!",
            "text/plain; charset=utf-8",
            "RSS reader not yet whitelisted!",
        ),
        (403, ANUBIS_BOT_CHECK, "text/html", "Making sure you're not a bot!"),
    ],
)
async def test_a_bot_check_or_a_refused_reader_is_never_an_empty_feed(
    fake_feed: tuple[FakeFeed, str],
    rss_source: RssSource,
    status: int,
    body: str,
    content_type: str,
    said: str,
) -> None:
    fake, _ = fake_feed
    fake.add_user("alice")
    fake.fail_next(status, body=body, headers={"content-type": content_type})

    with pytest.raises(FeedUnavailable) as caught:
        await rss_source.fetch(ALICE, since_id=None, start_time=START)

    assert said in caught.value.message and "@alice" in caught.value.message
    assert "API key" not in caught.value.message


async def test_nitter_reposts_are_kept_dated_when_they_appeared_and_linked_on_x(
    fake_feed: tuple[FakeFeed, str], rss_source: RssSource
) -> None:
    fake, _ = fake_feed
    own_id, own_at = status(10)
    newer_id, newer_at = status(30)
    original_id, original_at = str(snowflake(START - timedelta(days=3), 3)), START - timedelta(days=3)
    body = feed(
        [
            item(
                "Newest own post",
                f"https://nitter.example/alice/status/{newer_id}#m",
                newer_at,
                creator="@alice",
            ),
            item(
                "RT by @alice: Bob's three-day-old thread",
                f"https://nitter.example/bob/status/{original_id}#m",
                original_at,
                creator="@bob",
            ),
            item("Own post", f"https://nitter.example/alice/status/{own_id}#m", own_at, creator="@alice"),
        ]
    )
    fake.fail_next(200, body=body, headers={"content-type": "application/rss+xml; charset=utf-8"})

    result = await rss_source.fetch(ALICE, since_id=None, start_time=START)

    own, repost, newer = result.posts
    assert [own.external_id, newer.external_id] == [own_id, newer_id]
    assert repost.is_repost and repost.original_author == "bob" and repost.author_username == "alice"
    assert repost.text == "Bob's three-day-old thread"
    assert own_at < repost.created_at < newer_at  # when it appeared, not three days ago
    assert repost.url == f"https://x.com/bob/status/{original_id}"
    assert own.url == f"https://x.com/alice/status/{own_id}"  # the bridge's links rewritten to x.com

    # Read again, the repost is the same post (a stable id), and a run past it no longer sees it.
    fake.fail_next(200, body=body, headers={"content-type": "application/rss+xml"})
    again = await rss_source.fetch(ALICE, since_id=repost.external_id, start_time=START)
    assert [post.external_id for post in again.posts] == [newer_id]


async def test_rsshub_author_is_the_link_s_account_not_the_display_name(
    fake_feed: tuple[FakeFeed, str], rss_source: RssSource
) -> None:
    fake, _ = fake_feed
    own_id, own_at = status(5)
    repost_of, repost_at = status(1)
    body = feed(
        [
            item(
                "RT Bob Builder: a post by Bob",
                f"https://x.com/bob/status/{repost_of}",
                repost_at,
                creator="Bob Builder",
            ),
            item(
                "Qwen3 is out",
                f"https://x.com/Alibaba_Qwen/status/{own_id}",
                own_at,
                creator="Qwen Developers",
            ),
        ],
        title="Twitter @Qwen Developers",
    )
    fake.fail_next(200, body=body, headers={"content-type": "application/rss+xml"})

    result = await rss_source.fetch(
        AccountInfo("alibaba_qwen", "alibaba_qwen"), since_id=None, start_time=START
    )

    own, repost = result.posts  # the repost is dated just after the post below it in the feed
    assert own.author_username == "alibaba_qwen" and not own.is_repost
    assert own.url == f"https://x.com/Alibaba_Qwen/status/{own_id}"
    assert repost.is_repost and repost.original_author == "bob" and repost.text == "a post by Bob"


async def test_a_bare_503_in_front_of_the_bridge_stays_retryable(
    fake_feed: tuple[FakeFeed, str], rss_source: RssSource
) -> None:
    fake, _ = fake_feed
    fake.fail_next(503, body="<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>")

    with pytest.raises(TransientSourceError) as caught:
        await rss_source.fetch(ALICE, since_id=None, start_time=START)

    assert caught.value.retryable and "503 Service Temporarily Unavailable" in caught.value.message
