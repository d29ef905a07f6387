from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.summarize.conftest import make_post
from xtrack.jobs.pages import LANGUAGE_CHOICES
from xtrack.sources.base import Post
from xtrack.summarize.base import SummaryRequest
from xtrack.summarize.citations import escape_markdown
from xtrack.summarize.extractive import (
    ExtractiveSummarizer,
    condense,
    rank_posts,
    summarize_extractive,
)

LINK = re.compile(r"\[post\]\((https://x\.com/\S+?)\)$")


def twelve_posts() -> list[Post]:
    return [
        make_post(1, "Lunch at the usual place", likes=5000),
        make_post(2, "New #AI model beats the benchmark", likes=10),
        make_post(3, "Chipmakers are sold out until 2027", likes=50),
        make_post(4, "Weekend plans: hiking", likes=900),
        make_post(5, "Watching the game tonight", likes=300),
        make_post(6, "Our semiconductor CHIPS act hearing starts", likes=20),
        make_post(7, "Coffee", likes=1),
        make_post(8, "Random thought about cities", likes=70),
        make_post(9, "Airline food is bad", likes=8),
        make_post(10, "Hiring: come work with us", likes=40),
        make_post(11, "Photos from the trip", likes=60),
        make_post(12, "Book recommendations?", likes=2),
    ]


def bullets(content: str) -> list[str]:
    return [line for line in content.splitlines() if line.startswith("- ")]


async def test_topic_posts_come_first_with_a_headline_bullets_and_a_count() -> None:
    posts = twelve_posts()
    result = await ExtractiveSummarizer().summarize(SummaryRequest("alice", posts, ["AI", "chips"]))

    lines = bullets(result.content)
    assert 3 <= len(lines) <= 7
    # Exactly the three topic posts (despite far fewer likes than the lunch post), most engaging
    # and recent first: #AI (10 likes) comes last.
    assert set(result.cited_post_ids) == {posts[2].external_id, posts[5].external_id, posts[1].external_id}
    assert result.cited_post_ids[-1] == posts[1].external_id
    assert result.content.startswith("## @alice: 12 new posts, 3 on AI and chips\n")
    assert result.headline == "@alice: 12 new posts, 3 on AI and chips"
    assert result.content.rstrip().endswith("…and 9 more posts.")
    assert (result.model, result.input_tokens, result.output_tokens, result.cost) == ("extractive", 0, 0, 0.0)
    assert result.llm_calls == 0


def test_every_bullet_links_a_real_post_and_quotes_it() -> None:
    posts = twelve_posts()
    result = summarize_extractive(SummaryRequest("alice", posts, ["AI", "chips"]))
    urls = {post.url: post for post in posts}
    for line, cited in zip(bullets(result.content), result.cited_post_ids, strict=True):
        match = LINK.search(line)
        assert match, line
        post = urls[match.group(1)]
        assert post.external_id == cited
        assert post.text.split()[0].lstrip("#") in line


def test_hashtags_and_word_forms_match_topics() -> None:
    posts = [
        make_post(1, "Big day", likes=1000),
        make_post(2, "Loving the new #MachineLearning course", likes=1),
        make_post(3, "#robotics demo at noon", likes=1),
        make_post(4, "Fresh air", likes=500),
        make_post(5, "aim high", likes=400),
    ]
    result = summarize_extractive(SummaryRequest("bob", posts, ["machine learning", "Robots", "AI"]))
    assert set(result.cited_post_ids[:2]) == {posts[1].external_id, posts[2].external_id}
    assert "2 on machine learning and Robots" in result.headline
    # "air" and "aim" are not "AI".
    ranked = rank_posts(posts, ["AI"])
    assert not any(item.on_topic for item in ranked)


def test_without_topics_engagement_and_recency_decide() -> None:
    posts = [
        make_post(1, "old and popular", likes=10_000, minutes_ago=600),
        make_post(2, "new and quiet", likes=0, minutes_ago=1),
        make_post(3, "old and quiet", likes=0, minutes_ago=600),
        make_post(4, "middling", likes=50, minutes_ago=300),
    ]
    order = [item.post.external_id for item in rank_posts(posts, [])]
    assert order[0] == posts[0].external_id
    assert order.index(posts[1].external_id) < order.index(posts[2].external_id)  # recency breaks the tie
    result = summarize_extractive(SummaryRequest("carol", posts, []))
    assert result.headline == "@carol: 4 new posts"
    assert len(bullets(result.content)) == 4  # fewer posts than 5: all of them, no "more" line
    assert "more post" not in result.content


def test_no_topic_match_says_so() -> None:
    posts = twelve_posts()[:5]
    posts = [p for p in posts if "AI" not in p.text and "Chip" not in p.text]
    result = summarize_extractive(SummaryRequest("alice", posts, ["crypto", "energy"]))
    assert result.headline == "@alice: 3 new posts, none on crypto or energy"
    assert len(bullets(result.content)) == 3


def test_one_topic_post_is_quoted_alone_without_off_topic_padding() -> None:
    posts = twelve_posts()
    result = summarize_extractive(SummaryRequest("alice", posts, ["AI"]))
    assert result.cited_post_ids == [posts[1].external_id]
    assert len(bullets(result.content)) == 1
    assert result.headline == "@alice: 12 new posts, 1 on AI"
    assert result.content.rstrip().endswith("…and 11 more posts.")


def test_no_topic_post_quotes_the_leading_posts_under_a_line_saying_so() -> None:
    posts = twelve_posts()
    result = summarize_extractive(SummaryRequest("alice", posts, ["crypto"]))
    assert "Nothing on your topics." in result.content
    assert len(bullets(result.content)) == 3
    assert result.cited_post_ids[0] == posts[0].external_id  # 5,000 likes
    without_topics = summarize_extractive(SummaryRequest("alice", posts, []))
    assert "Nothing on your topics" not in without_topics.content
    assert len(bullets(without_topics.content)) == 5


def test_many_topic_posts_cap_at_seven_bullets() -> None:
    posts = [make_post(i, f"chip news number {i}", likes=i) for i in range(1, 21)]
    result = summarize_extractive(SummaryRequest("alice", posts, ["chips"]))
    assert len(bullets(result.content)) == 7
    assert "…and 13 more posts, 13 of them on your topics." in result.content
    assert result.headline == "@alice: 20 new posts on chips"


def test_post_text_cannot_inject_markdown_or_html() -> None:
    evil = make_post(1, "[click me](javascript:alert(1)) <script>x</script> **bold** # not a heading")
    result = summarize_extractive(SummaryRequest("alice", [evil], []))
    [line] = bullets(result.content)
    assert "\\[click me\\]" in line and "\\<script\\>" in line and "\\*\\*bold\\*\\*" in line
    assert line.endswith(f"[post]({evil.url})")


def test_duplicates_are_quoted_once_and_long_posts_condensed() -> None:
    long_text = "word " * 200
    posts = [
        make_post(1, "Same announcement https://t.co/abc", likes=10),
        make_post(2, "Same announcement https://t.co/xyz", likes=9),
        make_post(3, long_text, likes=1),
        make_post(4, "@bob @carol thanks for the chips!", is_reply=True),
    ]
    result = summarize_extractive(SummaryRequest("alice", posts, []))
    texts = bullets(result.content)
    assert sum("Same announcement" in line for line in texts) == 1
    assert any(line.startswith("- Replied: thanks for the chips!") for line in texts)
    assert len(condense(long_text)) <= 221 and condense(long_text).endswith("…")
    assert "t.co" not in result.content


@settings(max_examples=60, deadline=None)
@given(
    texts=st.lists(st.text(min_size=0, max_size=80), min_size=1, max_size=30),
    likes=st.lists(st.integers(0, 10_000), min_size=30, max_size=30),
    topics=st.lists(st.sampled_from(["AI", "chips", "#energy", "machine learning", "x"]), max_size=3),
)
def test_deterministic_and_always_grounded(texts: list[str], likes: list[int], topics: list[str]) -> None:
    posts = [make_post(i + 1, text, likes=likes[i]) for i, text in enumerate(texts)]
    first = summarize_extractive(SummaryRequest("dave", posts, topics))
    again = summarize_extractive(SummaryRequest("dave", list(reversed(posts)), topics))
    assert first == again  # input order does not matter either
    ids = {post.external_id for post in posts}
    assert set(first.cited_post_ids) <= ids
    assert len(bullets(first.content)) == len(first.cited_post_ids) <= 7
    on_topic = {item.post.external_id for item in rank_posts(posts, topics) if item.on_topic}
    if on_topic:  # only topic posts are quoted, at least one
        assert first.cited_post_ids and set(first.cited_post_ids) <= on_topic
    else:  # nothing on topic (or no topics): the leading posts, at least 3 unless texts repeat
        assert len(first.cited_post_ids) >= min(3, len(posts)) or len(set(t.strip() for t in texts)) < 3


OFFERED_LANGUAGES = [code for code, _ in LANGUAGE_CHOICES if code != "en"]
# The English summarizer's phrases ("post" alone is Italian and Hindi too).
ENGLISH_WORDS = re.compile(
    r"\b(new posts?|more posts?|none|on|and|of them|topics|nothing|reposted|replied)\b", re.I
)


@pytest.mark.parametrize("language", OFFERED_LANGUAGES)
def test_the_offline_summary_writes_its_own_words_in_the_chosen_language(language: str) -> None:
    posts = [*twelve_posts(), make_post(13, "RT something shared", is_repost=True, likes=1)]
    result = summarize_extractive(SummaryRequest("alice", posts, ["AI", "chips"], language=language))
    headline_words = result.headline.replace("@alice", "").replace("(AI, chips)", "")
    assert not ENGLISH_WORDS.search(headline_words), result.headline
    assert result.content.startswith(f"## {escape_markdown(result.headline)}\n")
    more = result.content.rstrip().splitlines()[-1]
    assert "10" in more and not ENGLISH_WORDS.search(more), more
    # The posts themselves are quoted as written, untranslated.
    assert "Chipmakers are sold out until 2027" in result.content
    assert "[post](" not in result.content or language == "it"  # the link text too ("post" is Italian)
    empty = summarize_extractive(SummaryRequest("alice", [], ["AI"], language=language))
    assert not ENGLISH_WORDS.search(empty.headline.replace("@alice", "")), empty.headline


def test_german_words_read_as_german() -> None:
    posts = twelve_posts()
    result = summarize_extractive(SummaryRequest("alice", posts, ["AI", "chips"], language="de"))
    assert result.headline == "@alice · Neue Beiträge: 12 · Themen (AI, chips): 3"
    assert result.content.rstrip().endswith("…Weitere Beiträge: 9")
    assert "— [Beitrag](https://x.com/alice/status/" in result.content
    nothing = summarize_extractive(SummaryRequest("alice", posts, ["football"], language="de-AT"))
    assert nothing.headline == "@alice · Neue Beiträge: 12 · Themen (football): 0"
    assert "Nichts zu Ihren Themen." in nothing.content


def test_english_and_languages_not_offered_keep_the_english_sentences() -> None:
    for language in ("en", "EN", "xx"):
        result = summarize_extractive(
            SummaryRequest("alice", twelve_posts(), ["AI", "chips"], language=language)
        )
        assert result.headline == "@alice: 12 new posts, 3 on AI and chips"
