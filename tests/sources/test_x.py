"""The X API v2 client over real HTTP against a local fake X."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.sources.fakes import FakeX
from xtrack import __version__
from xtrack.sources.base import (
    AccountInfo,
    AccountNotFound,
    AccountUnavailable,
    BadCredentials,
    MalformedResponse,
    SourceRateLimited,
    TransientSourceError,
)
from xtrack.sources.x import XSource

START = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


async def test_resolve_then_250_new_posts_across_3_pages(
    fake_x: tuple[FakeX, str], x_source: XSource
) -> None:
    fake, _ = fake_x
    user = fake.add_user("Alice")
    ids = fake.add_posts(user, 250, start=START)

    account = await x_source.resolve("alice")
    result = await x_source.fetch(account, since_id=None, start_time=START - timedelta(hours=1))

    assert account == AccountInfo(username="alice", external_id=user.id, display_name="Alice")
    assert [p.external_id for p in result.posts] == ids  # oldest first, each once
    assert fake.count("/tweets") == 3
    assert result.requests == 3
    assert result.gap is False
    timeline_calls = [params for path, params, _ in fake.requests if path.endswith("/tweets")]
    assert [c.get("pagination_token") for c in timeline_calls] == [None, "100", "200"]
    assert all(c["max_results"] == "100" for c in timeline_calls)
    assert "public_metrics" in timeline_calls[0]["tweet.fields"]
    assert timeline_calls[0]["start_time"] == "2026-11-24T11:00:00Z"
    first = result.posts[0]
    assert first.author_username == "alice"
    assert first.url == f"https://x.com/alice/status/{first.external_id}"
    assert first.metrics == {"likes": 3, "reposts": 1, "replies": 2, "quotes": 0, "views": 40}
    assert first.created_at == START
    assert result.rate_limit_remaining is not None and result.rate_limit_reset_at is not None


async def test_requests_carry_the_bearer_token_and_a_clear_user_agent(
    fake_x: tuple[FakeX, str], x_source: XSource
) -> None:
    fake, _ = fake_x
    fake.add_user("alice")
    await x_source.resolve("alice")
    headers = fake.requests[0][2]
    assert headers["authorization"] == "Bearer good-token"
    assert headers["user-agent"] == f"XTrack/{__version__} (+http://xtrack.test)"


async def test_since_id_is_exclusive(fake_x: tuple[FakeX, str], x_source: XSource) -> None:
    fake, _ = fake_x
    user = fake.add_user("alice")
    ids = fake.add_posts(user, 5, start=START)
    account = AccountInfo("alice", user.id)

    result = await x_source.fetch(account, since_id=ids[2], start_time=None)

    assert [p.external_id for p in result.posts] == ids[3:]
    assert fake.requests[-1][1]["since_id"] == ids[2]


async def test_nothing_new_costs_one_request_and_returns_no_posts(
    fake_x: tuple[FakeX, str], x_source: XSource
) -> None:
    fake, _ = fake_x
    user = fake.add_user("alice")
    ids = fake.add_posts(user, 3, start=START)

    result = await x_source.fetch(AccountInfo("alice", user.id), since_id=ids[-1], start_time=None)

    assert result.posts == []
    assert result.requests == 1
    assert fake.posts_served == 0


async def test_unknown_user_is_account_not_found(fake_x: tuple[FakeX, str], x_source: XSource) -> None:
    with pytest.raises(AccountNotFound) as caught:
        await x_source.resolve("nobody_here")
    assert caught.value.kind == "source_not_found" and caught.value.retryable is False


async def test_suspended_user_200_with_errors(fake_x: tuple[FakeX, str], x_source: XSource) -> None:
    fake, _ = fake_x
    user = fake.add_user("gone", suspended=True)
    with pytest.raises(AccountUnavailable) as caught:
        await x_source.resolve("gone")
    assert caught.value.state == "suspended"
    assert caught.value.kind == "source_unavailable"
    # Suspended after we resolved it: the timeline answers 200 with errors too.
    with pytest.raises(AccountUnavailable):
        await x_source.fetch(AccountInfo("gone", user.id), since_id=None, start_time=START)


async def test_protected_user(fake_x: tuple[FakeX, str], x_source: XSource) -> None:
    fake, _ = fake_x
    user = fake.add_user("private_person", protected=True)
    with pytest.raises(AccountUnavailable) as caught:
        await x_source.resolve("private_person")
    assert caught.value.state == "protected"
    with pytest.raises(AccountUnavailable) as caught:
        await x_source.fetch(AccountInfo("private_person", user.id), since_id=None, start_time=START)
    assert caught.value.state == "protected"


async def test_bad_token_is_bad_credentials(fake_x: tuple[FakeX, str]) -> None:
    fake, base_url = fake_x
    fake.add_user("alice")
    source = XSource(base_url=base_url, bearer_token="wrong", public_url="http://t", timeout=2, max_retries=3)
    try:
        with pytest.raises(BadCredentials) as caught:
            await source.resolve("alice")
    finally:
        await source.aclose()
    assert caught.value.kind == "source_auth"
    assert len(fake.requests) == 1  # not retried


async def test_429_blocks_every_request_until_the_reset(fake_x: tuple[FakeX, str], x_source: XSource) -> None:
    fake, _ = fake_x
    user = fake.add_user("alice")
    fake.add_posts(user, 3, start=START)
    reset = int(time.time()) + 2
    fake.fail_next(429, headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)})
    account = AccountInfo("alice", user.id)

    with pytest.raises(SourceRateLimited) as caught:
        await x_source.fetch(account, since_id=None, start_time=START)
    assert caught.value.reset_at == datetime.fromtimestamp(reset, tz=UTC)
    assert caught.value.kind == "rate_limited"
    with pytest.raises(SourceRateLimited):
        await x_source.fetch(account, since_id=None, start_time=START)
    assert len(fake.requests) == 1  # the second call never left the process

    # After the reset the source calls again.
    x_source.http.clock = lambda: datetime.fromtimestamp(reset + 1, tz=UTC)
    result = await x_source.fetch(account, since_id=None, start_time=START)
    assert len(result.posts) == 3
    assert len(fake.requests) == 2


async def test_remaining_zero_stops_paging_before_the_reset(
    fake_x: tuple[FakeX, str], x_source: XSource
) -> None:
    fake, _ = fake_x
    user = fake.add_user("alice")
    fake.add_posts(user, 150, start=START)
    fake.remaining = 1  # the first page spends the last request of the window
    with pytest.raises(SourceRateLimited) as caught:
        await x_source.fetch(AccountInfo("alice", user.id), since_id=None, start_time=START)
    assert caught.value.reset_at == datetime.fromtimestamp(int(fake.reset_at.timestamp()), tz=UTC)
    assert fake.count("/tweets") == 1


async def test_503_then_success(fake_x: tuple[FakeX, str], x_source: XSource) -> None:
    fake, _ = fake_x
    user = fake.add_user("alice")
    fake.add_posts(user, 2, start=START)
    fake.fail_next(503)
    result = await x_source.fetch(AccountInfo("alice", user.id), since_id=None, start_time=START)
    assert len(result.posts) == 2
    assert result.requests == 2
    assert fake.count("/tweets") == 2


async def test_persistent_503_is_transient_after_the_retries(
    fake_x: tuple[FakeX, str], x_source: XSource
) -> None:
    fake, _ = fake_x
    user = fake.add_user("alice")
    fake.fail_next(503, times=5)
    with pytest.raises(TransientSourceError) as caught:
        await x_source.fetch(AccountInfo("alice", user.id), since_id=None, start_time=START)
    assert caught.value.retryable is True and caught.value.kind == "upstream"
    assert fake.count("/tweets") == 3  # 1 + max_retries


async def test_timeout(fake_x: tuple[FakeX, str]) -> None:
    fake, base_url = fake_x
    user = fake.add_user("alice")
    fake.fail_next(200, delay=1.0, times=2)
    source = XSource(
        base_url=base_url,
        bearer_token="good-token",
        public_url="http://t",
        timeout=0.2,
        max_retries=1,
        retry_base_seconds=0.01,
    )
    started = time.monotonic()
    try:
        with pytest.raises(TransientSourceError, match="timed out"):
            await source.fetch(AccountInfo("alice", user.id), since_id=None, start_time=START)
    finally:
        await source.aclose()
    assert time.monotonic() - started < 1.5
    assert fake.count("/tweets") == 2


async def test_malformed_json(fake_x: tuple[FakeX, str], x_source: XSource) -> None:
    fake, _ = fake_x
    user = fake.add_user("alice")
    fake.fail_next(200, body='{"data": [ {"id": "1", ')
    with pytest.raises(MalformedResponse) as caught:
        await x_source.fetch(AccountInfo("alice", user.id), since_id=None, start_time=START)
    assert caught.value.kind == "malformed_response"


async def test_a_post_without_created_at_is_malformed(fake_x: tuple[FakeX, str], x_source: XSource) -> None:
    fake, _ = fake_x
    user = fake.add_user("alice")
    fake.fail_next(200, body='{"data": [{"id": "1234", "text": "hi"}], "meta": {"result_count": 1}}')
    with pytest.raises(MalformedResponse):
        await x_source.fetch(AccountInfo("alice", user.id), since_id=None, start_time=START)


async def test_3200_posts_read_means_a_gap(fake_x: tuple[FakeX, str], x_source: XSource) -> None:
    fake, _ = fake_x
    user = fake.add_user("firehose")
    ids = fake.add_posts(user, 3300, start=START, step=timedelta(seconds=1))
    result = await x_source.fetch(AccountInfo("firehose", user.id), since_id=ids[0], start_time=None)
    assert len(result.posts) == 3200
    assert result.gap is True
    assert fake.count("/tweets") == 32
