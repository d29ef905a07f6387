"""The Bluesky source over real HTTP against a stand-in AppView written from the lexicons."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.fakes.server import serve_app
from tests.sources.bluesky_fake import FakeBluesky
from xtrack.sources.base import (
    AccountInfo,
    AccountNotFound,
    AccountUnavailable,
    SourceRateLimited,
    TransientSourceError,
)
from xtrack.sources.bluesky import BlueskySource
from xtrack.sources.bluesky_posts import make_tid, tid_key
from xtrack.sources.ids import snowflake_time

START = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.fixture
def fake() -> Iterator[tuple[FakeBluesky, str]]:
    upstream = FakeBluesky()
    with serve_app(upstream.app) as base_url:
        yield upstream, base_url


@pytest.fixture
async def source(fake: tuple[FakeBluesky, str]) -> AsyncIterator[BlueskySource]:
    client = BlueskySource(
        base_url=fake[1], public_url="http://xtrack.test", timeout=2.0, max_retries=1, retry_base_seconds=0.01
    )
    yield client
    await client.aclose()


def test_a_tid_key_keeps_the_tids_order_and_time() -> None:
    moments = [
        START,
        START + timedelta(microseconds=1),
        START + timedelta(microseconds=999),
        START + timedelta(seconds=1),
    ]
    tids = [make_tid(moment, clock) for moment in moments for clock in (0, 5, 1023)]
    keys = [tid_key(tid) for tid in tids]
    assert sorted(tids) == tids and keys == sorted(keys) and len(set(keys)) == len(keys)
    assert snowflake_time(keys[0] or 0) == START
    assert tid_key("self") is None and tid_key("3jzfcijpj2z2a") is not None


async def test_250_posts_in_the_window_are_read_across_pages_to_the_end(
    fake: tuple[FakeBluesky, str], source: BlueskySource
) -> None:
    upstream, _ = fake
    alice = upstream.add_actor("alice.bsky.social")
    uris = upstream.add_posts(alice, 250, start=START, step=timedelta(minutes=1))

    account = await source.resolve("alice.bsky.social")
    result = await source.fetch(account, since_id=None, start_time=START - timedelta(hours=1))

    assert account.external_id == alice.did and account.display_name == "Alice"
    assert [post.raw and post.raw["uri"] for post in result.posts] == uris  # oldest first, each once
    assert upstream.count("getAuthorFeed") == 3 and result.requests == 3 and result.posts_read == 250
    feed_calls = [params for path, params in upstream.requests if path.endswith("getAuthorFeed")]
    assert feed_calls[0]["actor"] == alice.did and feed_calls[0]["limit"] == "100"
    assert "cursor" not in feed_calls[0] and feed_calls[1]["cursor"]
    first = result.posts[0]
    assert first.url == f"https://bsky.app/profile/alice.bsky.social/post/{uris[0].rsplit('/', 1)[-1]}"
    assert first.created_at == START and first.author_username == "alice.bsky.social"
    assert first.metrics == {"likes": 5, "reposts": 2, "replies": 1, "quotes": 0}
    assert result.rate_limit_remaining is not None and result.rate_limit_reset_at is not None


async def test_the_cursor_stops_the_reading_and_only_newer_posts_return(
    fake: tuple[FakeBluesky, str], source: BlueskySource
) -> None:
    upstream, _ = fake
    alice = upstream.add_actor("alice.bsky.social")
    upstream.add_posts(alice, 150, start=START, step=timedelta(minutes=1))
    account = await source.resolve("alice.bsky.social")
    first = await source.fetch(account, since_id=None, start_time=START)
    cursor = first.posts[-1].external_id
    newer = [upstream.post(alice, f"new {i}", START + timedelta(hours=3, minutes=i)) for i in range(2)]
    before = upstream.count("getAuthorFeed")

    second = await source.fetch(account, since_id=cursor, start_time=None)

    assert [post.raw and post.raw["uri"] for post in second.posts] == newer
    assert upstream.count("getAuthorFeed") - before == 1  # the first page reaches the cursor


async def test_reposts_quotes_replies_links_and_a_self_thread(
    fake: tuple[FakeBluesky, str], source: BlueskySource
) -> None:
    upstream, _ = fake
    alice = upstream.add_actor("alice.bsky.social")
    bob = upstream.add_actor("bob.example.com")
    original = upstream.post(bob, "Bob's original about chips", START)
    gone = upstream.post(bob, "soon deleted", START + timedelta(minutes=1))
    upstream.repost(alice, original, START + timedelta(minutes=10))
    upstream.post(alice, "quoting bob", START + timedelta(minutes=11), quote=original)
    upstream.post(alice, "quoting a deleted post", START + timedelta(minutes=12), quote=gone)
    upstream.post(alice, "replying to bob", START + timedelta(minutes=13), reply_to=original)
    head = upstream.post(
        alice, "1/ a thread", START + timedelta(minutes=14), link="https://example.com/a/long/article"
    )
    second = upstream.post(alice, "2/ more", START + timedelta(minutes=15), reply_to=head)
    upstream.post(alice, "3/ end", START + timedelta(minutes=16), reply_to=second)
    upstream.delete(gone)

    account = await source.resolve("alice.bsky.social")
    posts = (await source.fetch(account, since_id=None, start_time=START)).posts

    repost, quote, quote_deleted, reply, thread = posts
    assert repost.is_repost and repost.original_author == "bob.example.com"
    assert repost.text == "Bob's original about chips" and repost.created_at == START + timedelta(minutes=10)
    assert repost.url.startswith("https://bsky.app/profile/bob.example.com/post/")
    assert (
        quote.is_quote
        and quote.quoted_author == "bob.example.com"
        and quote.quoted_text == "Bob's original about chips"
    )
    assert quote_deleted.is_quote and quote_deleted.quoted_text is None
    assert reply.is_reply and not thread.is_reply
    assert thread.text == "1/ a thread https://example.com/a/long/article\n\n2/ more\n\n3/ end"
    assert int(thread.external_id) > int(reply.external_id)  # the thread's last post moves the cursor
    assert thread.url.endswith(head.rsplit("/", 1)[-1])


async def test_unknown_suspended_and_deactivated_accounts(
    fake: tuple[FakeBluesky, str], source: BlueskySource
) -> None:
    upstream, _ = fake
    upstream.add_actor("gone.bsky.social", status="takendown")
    upstream.add_actor("resting.bsky.social", status="deactivated")
    with pytest.raises(AccountNotFound):
        await source.resolve("nobody.bsky.social")
    with pytest.raises(AccountUnavailable) as suspended:
        await source.resolve("gone.bsky.social")
    assert suspended.value.state == "suspended"
    with pytest.raises(AccountUnavailable):
        await source.resolve("resting.bsky.social")


async def test_a_429_is_rate_limited_until_the_reset_header_and_5xx_is_retried(
    fake: tuple[FakeBluesky, str], source: BlueskySource
) -> None:
    upstream, _ = fake
    upstream.add_actor("alice.bsky.social")
    reset = int((datetime.now(UTC) + timedelta(minutes=4)).timestamp())
    upstream.fail_next(
        429,
        body={"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
        headers={"ratelimit-limit": "3000", "ratelimit-remaining": "0", "ratelimit-reset": str(reset)},
    )
    with pytest.raises(SourceRateLimited) as limited:
        await source.resolve("alice.bsky.social")
    assert limited.value.reset_at == datetime.fromtimestamp(reset, tz=UTC)
    # One budget for every call of the AppView: the feed waits for the reset too, without a request.
    sent = len(upstream.requests)
    with pytest.raises(SourceRateLimited):
        await source.fetch(await _resolved(upstream, source), since_id=None, start_time=START)
    assert len(upstream.requests) == sent
    source.http.blocked_until.clear()  # the reset passed

    upstream.fail_next(503)
    account = await source.fetch(await _resolved(upstream, source), since_id=None, start_time=START)
    assert account.posts == [] and account.requests == 2  # one 503, then the answer

    upstream.fail_next(502)
    upstream.fail_next(502)
    with pytest.raises(TransientSourceError):
        await source.fetch(await _resolved(upstream, source), since_id=None, start_time=START)


async def _resolved(upstream: FakeBluesky, source: BlueskySource) -> AccountInfo:
    actor = upstream.actors["alice.bsky.social"]
    return AccountInfo("alice.bsky.social", actor.did, actor.display_name)
