"""The Mastodon source over real HTTP against a stand-in server written from the REST API docs,
through the outbound guard."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.fakes.server import serve_app
from tests.notify.test_outbound import resolving
from tests.sources.mastodon_fake import FakeMastodon
from xtrack import outbound
from xtrack.sources.base import (
    AccountNotFound,
    AccountUnavailable,
    RequestRejected,
    SourceRateLimited,
)
from xtrack.sources.ids import snowflake_time
from xtrack.sources.mastodon import MastodonSource
from xtrack.sources.mastodon_posts import html_to_text, parse_status, status_id, status_key

START = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.fixture
def fake() -> Iterator[tuple[FakeMastodon, str]]:
    upstream = FakeMastodon()
    with serve_app(upstream.app) as base_url:
        yield upstream, base_url


def _source(base_url: str | None, *, allow_private: bool = True, **options: object) -> MastodonSource:
    return MastodonSource(
        base_url=base_url,
        public_url="http://xtrack.test",
        timeout=2.0,
        max_retries=1,
        retry_base_seconds=0.01,
        allow_private=allow_private,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
async def source(fake: tuple[FakeMastodon, str]) -> AsyncIterator[MastodonSource]:
    client = _source(fake[1])
    yield client
    await client.aclose()


def test_status_ids_map_onto_the_snowflake_layout_and_back() -> None:
    ids = [
        str((int(START.timestamp() * 1000) + step) << 16 | seq)
        for step in (0, 1, 1000)
        for seq in (0, 7, 65535)
    ]
    keys = [status_key(i, START) for i in ids]
    assert keys == sorted(keys) and [status_id(k) for k in keys] == ids
    assert snowflake_time(keys[0]) == START
    odd = status_key("AbCdEf", START)  # a server whose ids are not Mastodon's
    assert status_id(odd) is None and snowflake_time(odd) == START


def test_html_becomes_text_with_its_links() -> None:
    html = (
        '<p>New <a href="https://example.com/papers/chips" rel="nofollow"><span class="invisible">https://</span>'
        '<span class="ellipsis">example.com/papers</span><span class="invisible">/chips</span></a> '
        'with <span class="h-card"><a href="https://m.test/@bob" class="u-url mention">'
        "@<span>bob</span></a></span> "
        '<a href="https://m.test/tags/ai" class="mention hashtag">#<span>AI</span></a></p>'
        '<p>Second &amp; last, <a href="https://example.org/x">read this</a></p>'
    )
    assert html_to_text(html) == (
        "New https://example.com/papers/chips with @bob #AI\nSecond & last, read this https://example.org/x"
    )


async def test_120_statuses_are_read_across_pages_then_only_the_new_ones(
    fake: tuple[FakeMastodon, str], source: MastodonSource
) -> None:
    upstream, _ = fake
    bob = upstream.add_account("bob")
    ids = upstream.add_posts(bob, 120, start=START, step=timedelta(minutes=1))

    account = await source.resolve("bob@mastodon.test")
    result = await source.fetch(account, since_id=None, start_time=START - timedelta(hours=1))

    assert account.external_id == bob.id and account.display_name == "Bob"
    assert [post.raw and post.raw["id"] for post in result.posts] == ids
    calls = [params for path, params in upstream.requests if path.endswith("/statuses")]
    assert len(calls) == 4 and result.requests == 4  # 40 + 40 + 40 + the empty end
    assert calls[1]["max_id"] == ids[80] and "since_id" not in calls[0]
    first = result.posts[0]
    assert first.url == f"https://mastodon.test/@bob/{ids[0]}" and first.text == "toot 0 about chips"
    assert first.metrics == {"likes": 4, "reposts": 1, "replies": 0} and first.created_at == START
    assert result.rate_limit_reset_at == upstream.reset_at.replace(
        microsecond=upstream.reset_at.microsecond // 1000 * 1000
    )

    new = [upstream.post(bob, f"<p>new {i}</p>", START + timedelta(hours=3, minutes=i)) for i in range(2)]
    before = upstream.count("/statuses")
    second = await source.fetch(account, since_id=result.posts[-1].external_id, start_time=None)
    assert [post.raw and post.raw["id"] for post in second.posts] == new
    assert upstream.count("/statuses") - before == 1
    assert upstream.requests[-1][1]["since_id"] == ids[-1]


async def test_reblogs_replies_and_content_warnings(
    fake: tuple[FakeMastodon, str], source: MastodonSource
) -> None:
    upstream, _ = fake
    bob = upstream.add_account("bob")
    carol = upstream.add_account("carol@other.test")
    original = upstream.post(carol, "<p>Carol on chips</p>", START)
    upstream.reblog(bob, carol, original, START + timedelta(minutes=5))
    upstream.post(bob, "<p>a reply</p>", START + timedelta(minutes=6), reply_to=original)
    upstream.post(bob, "<p>the spoiler</p>", START + timedelta(minutes=7), spoiler="chip prices")
    deleted = upstream.post(bob, "<p>oops</p>", START + timedelta(minutes=8))
    upstream.delete(bob, deleted)

    account = await source.resolve("bob@mastodon.test")
    reblog, reply, warned = (await source.fetch(account, since_id=None, start_time=START)).posts

    assert (
        reblog.is_repost and reblog.original_author == "carol@other.test" and reblog.text == "Carol on chips"
    )
    assert reblog.created_at == START + timedelta(minutes=5) and reblog.url.endswith(f"/{original}")
    assert reply.is_reply and not reply.is_repost
    assert warned.text == "CW: chip prices\nthe spoiler"


async def test_unknown_and_suspended_accounts_and_rate_limits(
    fake: tuple[FakeMastodon, str], source: MastodonSource
) -> None:
    upstream, _ = fake
    upstream.add_account("gone", suspended=True)
    with pytest.raises(AccountNotFound):
        await source.resolve("nobody@mastodon.test")
    with pytest.raises(AccountUnavailable) as suspended:
        await source.resolve("gone@mastodon.test")
    assert suspended.value.state == "suspended"
    reset = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=3)
    upstream.fail_next(
        429, body={"error": "Too many requests"}, headers={"X-RateLimit-Reset": reset.isoformat()}
    )
    with pytest.raises(SourceRateLimited) as limited:
        await source.resolve("bob@mastodon.test")
    assert limited.value.reset_at == reset


async def test_each_account_is_read_on_its_own_server_through_the_guard(
    fake: tuple[FakeMastodon, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    upstream, base_url = fake
    upstream.add_account("bob")
    port = base_url.rsplit(":", 1)[1]
    monkeypatch.setattr(
        outbound,
        "resolve",
        resolving({"mastodon.test": "127.0.0.1", "twin.test": "127.0.0.1", "intranet.test": "10.1.2.3"}),
    )
    allowed = _source(None, server_url=lambda host: f"http://{host}:{port}")
    refusing = _source(None, allow_private=False, server_url=lambda host: f"http://{host}:{port}")
    try:
        # The guard connects to the address it checked; the request still names its host.
        assert (await allowed.resolve("bob@mastodon.test")).external_id == upstream.accounts["bob"].id
        assert upstream.requests[-1] == ("/api/v1/accounts/lookup", {"acct": "bob"})
        # A second server on the same address gets its own connections (TLS is made per name).
        await allowed.resolve("bob@twin.test")
        assert list(allowed.transport.pools) == ["mastodon.test", "twin.test"]
        before = len(upstream.requests)
        for handle in ("bob@mastodon.test", "eve@intranet.test"):
            with pytest.raises(RequestRejected) as refused:
                await refusing.resolve(handle)
            assert "private address" in refused.value.message or "loopback" in refused.value.message
        assert len(upstream.requests) == before  # nothing reached the server
    finally:
        await allowed.aclose()
        await refusing.aclose()


def test_a_quote_post_keeps_the_quoted_text_and_author_and_a_withdrawn_quote_stays_a_quote() -> None:
    base = {
        "id": str((int(START.timestamp() * 1000) << 16) | 1),
        "created_at": "2026-11-24T12:00:00.000Z",
        "content": "<p>Look at this</p>",
        "url": "https://mastodon.test/@bob/1",
        "account": {"acct": "bob"},
        "in_reply_to_id": None,
    }
    quoted = {"content": "<p>Chips are back</p>", "account": {"acct": "carol"}, "spoiler_text": ""}
    post = parse_status(
        {**base, "quote": {"state": "accepted", "quoted_status": quoted}},
        username="bob@mastodon.test",
        server_host="mastodon.test",
    )
    assert (
        post.is_quote and post.quoted_author == "carol@mastodon.test" and post.quoted_text == "Chips are back"
    )
    withdrawn = parse_status(
        {**base, "quote": {"state": "deleted", "quoted_status": None}},
        username="bob@mastodon.test",
        server_host="mastodon.test",
    )
    assert withdrawn.is_quote and withdrawn.quoted_text is None and withdrawn.created_at == START
