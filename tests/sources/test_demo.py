"""The offline demo source: deterministic, realistic, and new posts as time passes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xtrack.sources.base import AccountInfo, AccountNotFound, AccountUnavailable
from xtrack.sources.demo import DemoSource, named_topic, profile
from xtrack.sources.ids import snowflake_time
from xtrack.summarize.base import SummaryRequest
from xtrack.summarize.extractive import summarize_extractive
from xtrack.summarize.post_text import render_post

NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)


def clock_at(moment: datetime) -> DemoSource:
    return DemoSource(clock=lambda: moment)


async def fetch(source: DemoSource, name: str, **kwargs: object) -> list[str]:
    account = await source.resolve(name)
    result = await source.fetch(account, **kwargs)  # type: ignore[arg-type]
    return [p.external_id for p in result.posts]


async def test_same_now_same_posts_and_realistic_content() -> None:
    account = await clock_at(NOW).resolve("techwatcher")
    first = await clock_at(NOW).fetch(account, since_id=None, start_time=NOW - timedelta(hours=24))
    second = await clock_at(NOW).fetch(account, since_id=None, start_time=NOW - timedelta(hours=24))
    assert first == second
    posts = first.posts
    assert 100 <= len(posts) <= 24 * 60 // 4 + 1  # one post every 4-14 minutes
    assert all(NOW - timedelta(hours=24) <= p.created_at <= NOW for p in posts)
    assert all("#" in p.text or p.is_reply for p in posts)
    assert (
        any(p.is_reply for p in posts) and any(p.is_repost for p in posts) and any(p.is_quote for p in posts)
    )
    assert all(p.metrics["views"] >= p.metrics["likes"] for p in posts)
    assert all(p.url == f"https://x.com/techwatcher/status/{p.external_id}" for p in posts)


@pytest.mark.parametrize("name", ["techwatcher", "silicon-notes.bsky.social", "gpu_digest@mastodon.social"])
async def test_a_demo_repost_names_its_original_author_as_the_real_sources_do(name: str) -> None:
    """X's API, Bluesky and Mastodon give a repost's author apart from its whole text: the first
    summary a newcomer reads says whose words they are, never "reposted @unknown: RT @…"."""
    account = await clock_at(NOW).resolve(name)
    posts = (await clock_at(NOW).fetch(account, since_id=None, start_time=NOW - timedelta(hours=24))).posts
    reposts = [p for p in posts if p.is_repost]
    assert reposts
    assert all(p.original_author and not p.text.startswith("RT @") for p in reposts)
    assert all("@unknown" not in render_post(p) for p in reposts)


async def test_ids_are_snowflakes_of_the_post_time_and_increase() -> None:
    source = clock_at(NOW)
    result = await source.fetch(
        await source.resolve("alice"), since_id=None, start_time=NOW - timedelta(hours=6)
    )
    keys = [p.sort_key for p in result.posts]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert all(snowflake_time(p.external_id) == p.created_at for p in result.posts)


async def test_new_posts_appear_as_time_passes_and_since_id_is_exclusive() -> None:
    earlier = await fetch(clock_at(NOW), "alice", since_id=None, start_time=NOW - timedelta(hours=2))
    later = await fetch(
        clock_at(NOW + timedelta(minutes=15)),
        "alice",
        since_id=earlier[-1],
        start_time=NOW - timedelta(hours=2),
    )
    assert later, "a 15-minute run always finds something new"
    assert int(later[0]) > int(earlier[-1])
    assert earlier[-1] not in later
    nothing = await fetch(clock_at(NOW + timedelta(minutes=15)), "alice", since_id=later[-1], start_time=None)
    assert nothing == []


@settings(max_examples=40, deadline=None)
@given(name=st.from_regex(r"[a-z0-9_]{1,15}", fullmatch=True))
def test_every_username_gets_a_stable_profile(name: str) -> None:
    one, two = profile(name), profile(name)
    assert one == two
    assert timedelta(minutes=4) <= one.interval <= timedelta(minutes=14)
    assert 2 <= len(one.topics) <= 3


@pytest.mark.parametrize(
    ("name", "topic"),
    [("ai_frontier", "AI"), ("chipwatch", "chips"), ("marketpulse", "markets"), ("gpt4_news", "AI")],
)
async def test_a_name_that_names_a_topic_posts_mostly_about_it(name: str, topic: str) -> None:
    assert profile(name).topics[0].name == topic
    account = await clock_at(NOW).resolve(name)
    posts = (await clock_at(NOW).fetch(account, since_id=None, start_time=NOW - timedelta(hours=24))).posts
    share = sum(1 for p in posts if p.raw["topic"] == topic) / len(posts)
    assert 0.55 <= share <= 0.85
    # So the demo's first summaries are about what their jobs ask for.
    result = summarize_extractive(SummaryRequest(name, posts, [topic]))
    assert result.headline.endswith(f"on {topic}") and len(result.cited_post_ids) == 7


@pytest.mark.parametrize("name", ["alice", "second", "fabian", "secret", "maria", "openai"])
def test_ordinary_names_name_no_topic(name: str) -> None:
    assert named_topic(name) is None and not profile(name).named_topic


async def test_documented_failure_names() -> None:
    source = clock_at(NOW)
    with pytest.raises(AccountNotFound):
        await source.resolve("doesnotexist")
    with pytest.raises(AccountNotFound):
        await source.resolve("Missing")
    with pytest.raises(AccountUnavailable) as caught:
        await source.resolve("suspended")
    assert caught.value.state == "suspended"
    with pytest.raises(AccountUnavailable) as caught:
        await source.fetch(AccountInfo("protected_acct", "1"), since_id=None, start_time=NOW)
    assert caught.value.state == "protected"
