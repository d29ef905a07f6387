"""The X source fed the answers X documents (tests/sources/x_shapes.py) over real HTTP: long posts,
reposts and quotes read whole, links expanded, edits folded, partial errors, credits and caps."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.sources import x_shapes as shapes
from tests.sources.fakes import FakeX
from xtrack.sources.base import AccountInfo, QuotaExhausted, SourceRateLimited
from xtrack.sources.x import XSource

ACCOUNT = AccountInfo("alice", shapes.ALICE["id"])


def words(text: str) -> list[str]:
    return [word for word in text.split() if not word.startswith("https://")]


async def test_long_post_repost_and_quote_are_read_whole(
    fake_x: tuple[FakeX, str], x_source: XSource
) -> None:
    fake, _ = fake_x
    body, texts = shapes.whole_posts_page()
    fake.script_timeline(body)

    result = await x_source.fetch(ACCOUNT, since_id=None, start_time=shapes.START - timedelta(hours=3))

    by_id = {post.external_id: post for post in result.posts}
    own_id, repost_id, quote_id = list(texts)
    own, repost, quote = by_id[own_id], by_id[repost_id], by_id[quote_id]
    assert len(texts[own_id]) > 580
    assert own.text == texts[own_id].replace("https://t.co/ownLnk", "https://example.com/ownLnk")
    assert not own.is_repost and own.original_author is None

    assert repost.is_repost
    assert repost.original_author == "bob"
    assert repost.author_username == "alice"
    assert words(repost.text) == words(texts[repost_id])  # every word, not "RT @bob: " and a cut
    assert "https://example.com/bobLnk" in repost.text and "t.co" not in repost.text

    assert quote.is_quote and not quote.is_repost
    assert quote.text.startswith("Worth reading in full")
    carols_id = body["includes"]["tweets"][1]["id"]
    assert f"https://x.com/carol/status/{carols_id}" in quote.text  # its t.co link, expanded
    assert quote.quoted_author == "carol"
    assert words(quote.quoted_text or "") == words(texts[quote_id])

    reply = next(post for post in result.posts if post.is_reply)
    assert reply.text == "@bob agreed, with one caveat"
    assert len(result.posts) == 4
    assert result.posts_read == 6  # four posts and the two originals X included (pay-per-use bills each)
    params = fake.requests[-1][1]
    assert {"note_tweet", "entities", "edit_history_tweet_ids", "referenced_tweets", "public_metrics"} <= set(
        params["tweet.fields"].split(",")
    )
    assert set(params["expansions"].split(",")) == {"referenced_tweets.id", "referenced_tweets.id.author_id"}


async def test_an_edited_post_is_one_post_the_latest_version(
    fake_x: tuple[FakeX, str], x_source: XSource
) -> None:
    fake, _ = fake_x
    first, latest = shapes.post_id(5), shapes.post_id(9)
    history = [first, latest]
    old = shapes.tweet(first, shapes.ALICE, "Shipping on Friday", minutes=5, history=history)
    new = shapes.tweet(latest, shapes.ALICE, "Shipping on Monday (edited)", minutes=9, history=history)
    fake.script_timeline(shapes.page([new, old]))

    result = await x_source.fetch(ACCOUNT, since_id=None, start_time=shapes.START)

    assert [(post.external_id, post.text) for post in result.posts] == [
        (latest, "Shipping on Monday (edited)")
    ]
    assert result.posts[0].replaces == (first,)


async def test_a_page_with_partial_errors_keeps_its_posts(
    fake_x: tuple[FakeX, str], x_source: XSource
) -> None:
    fake, _ = fake_x
    gone = shapes.post_id(-30, 3)
    original = {"id": gone, "text": "x" * 50, "author_id": shapes.BOB["id"]}
    reposted = shapes.repost(shapes.post_id(6), shapes.ALICE, original, shapes.BOB, minutes=6)
    own = shapes.tweet(shapes.post_id(7), shapes.ALICE, "still here", minutes=7)
    fake.script_timeline(shapes.page([own, reposted], errors=[shapes.deleted_reference(gone)]))

    result = await x_source.fetch(ACCOUNT, since_id=None, start_time=shapes.START)

    assert [post.text for post in result.posts] == ["x" * 50 + "…", "still here"]
    assert result.posts[0].is_repost and result.posts[0].original_author == "bob"


async def test_a_page_of_only_reference_errors_is_empty_not_a_missing_account(
    fake_x: tuple[FakeX, str], x_source: XSource
) -> None:
    fake, _ = fake_x
    fake.script_timeline({"errors": [shapes.deleted_reference("1")], "meta": {"result_count": 0}})
    result = await x_source.fetch(ACCOUNT, since_id=None, start_time=shapes.START)
    assert result.posts == []


async def test_402_is_quota_exhausted_and_not_retried(fake_x: tuple[FakeX, str], x_source: XSource) -> None:
    fake, _ = fake_x
    fake.script_timeline(shapes.CREDITS_DEPLETED, status=402)

    with pytest.raises(QuotaExhausted) as caught:
        await x_source.fetch(ACCOUNT, since_id=None, start_time=shapes.START)

    assert caught.value.kind == "quota_exhausted"
    assert caught.value.message == "X API credits are used up"
    assert caught.value.reset_at > datetime.now(UTC) + timedelta(hours=23)
    assert fake.count("/tweets") == 1


async def test_the_usage_cap_429_is_the_monthly_cap_not_a_window(
    fake_x: tuple[FakeX, str], x_source: XSource
) -> None:
    fake, _ = fake_x
    window_reset = str(int(time.time()) + 900)
    fake.script_timeline(
        shapes.USAGE_CAPPED,
        status=429,
        headers={"x-rate-limit-remaining": "1499", "x-rate-limit-reset": window_reset},
    )
    x_source.http.clock = lambda: datetime(2026, 12, 7, 20, 0, tzinfo=UTC)

    with pytest.raises(QuotaExhausted) as caught:
        await x_source.fetch(ACCOUNT, since_id=None, start_time=shapes.START)

    assert caught.value.reset_at == datetime(2027, 1, 1, tzinfo=UTC)
    assert caught.value.message == "X API monthly cap reached, resets on 2027-01-01"


async def test_a_429_on_the_timeline_leaves_the_user_lookup_alone(
    fake_x: tuple[FakeX, str], x_source: XSource
) -> None:
    fake, _ = fake_x
    fake.add_user("bob")
    reset = int(time.time()) + 900
    fake.script_timeline(
        shapes.TOO_MANY_REQUESTS,
        status=429,
        headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)},
    )

    with pytest.raises(SourceRateLimited) as caught:
        await x_source.fetch(ACCOUNT, since_id=None, start_time=shapes.START)
    assert caught.value.reset_at == datetime.fromtimestamp(reset, tz=UTC)
    assert caught.value.bucket == "primary"

    # The lookup has its own bucket: it still goes out; the timeline waits for its reset.
    assert (await x_source.resolve("bob")).username == "bob"
    with pytest.raises(SourceRateLimited):
        await x_source.fetch(ACCOUNT, since_id=None, start_time=shapes.START)
    assert fake.count("/tweets") == 1
    assert fake.count("/users/by/username") == 1


async def test_a_429_on_the_user_lookup_leaves_timelines_alone(
    fake_x: tuple[FakeX, str], x_source: XSource
) -> None:
    fake, _ = fake_x
    user = fake.add_user("alice")
    fake.add_posts(user, 2, start=shapes.START)
    fake.fail_next(
        429, headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(int(time.time()) + 900)}
    )

    with pytest.raises(SourceRateLimited) as caught:
        await x_source.resolve("alice")
    assert caught.value.bucket == "users"

    result = await x_source.fetch(AccountInfo("alice", user.id), since_id=None, start_time=shapes.START)
    assert len(result.posts) == 2
    assert re.fullmatch(r"\d+", result.posts[0].external_id)
