"""Briefings as pure functions: reposts folded once, the offline summary grouped by theme and
ranked by engagement relative to each author, the LLM prompt naming every post's author."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from tests.summarize.conftest import make_post
from xtrack.jobs.pages import LANGUAGE_CHOICES
from xtrack.sources.base import Post
from xtrack.summarize.base import SummaryRequest
from xtrack.summarize.briefing import fold_reposts, rank_briefing, summarize_briefing
from xtrack.summarize.extractive import summarize_extractive
from xtrack.summarize.prompts import build_combine_prompt, build_prompt, chunk_posts, post_record


def repost(number: int, of: Post, *, by: str, referenced: bool = True) -> Post:
    raw = {"referenced_tweets": [{"type": "retweeted", "id": of.external_id}]} if referenced else {}
    return make_post(number, f"RT @{of.author_username}: {of.text}", username=by, is_repost=True, raw=raw)


def test_a_post_reposted_by_two_followed_accounts_is_kept_once_noting_both() -> None:
    original = make_post(1, "New GPU chips", username="bob")
    posts = [
        original,
        repost(2, original, by="alice"),
        repost(3, original, by="carol"),
        make_post(4, "other"),
    ]
    folded = fold_reposts(posts)
    assert [post.external_id for post in folded.posts] == [original.external_id, posts[3].external_id]
    assert folded.reposted_by == {original.external_id: ["alice", "carol"]}


def test_reposts_of_an_unfollowed_post_fold_into_the_first_repost_also_without_a_referenced_id() -> None:
    outside = make_post(1, "A post by someone not followed", username="zed")
    first, second = repost(2, outside, by="alice"), repost(3, outside, by="carol", referenced=False)
    folded = fold_reposts([first, second])
    assert folded.posts == [first]
    assert folded.reposted_by == {first.external_id: ["alice", "carol"]}


def test_posts_of_different_authors_sharing_an_id_are_not_folded() -> None:
    # RSS ids come from dates: two accounts posting in the same second can share one.
    alice = make_post(1, "alice's post", username="alice")
    bob = replace(make_post(1, "bob's post", username="bob"), external_id=alice.external_id)
    assert fold_reposts([alice, bob]).posts == [alice, bob]


def test_engagement_counts_relative_to_the_authors_usual_level() -> None:
    # Bob's 50 likes are ten times his usual; Alice's 1,000 are her usual: Bob's post ranks first.
    posts = [
        make_post(1, "alice a", username="alice", likes=1000, minutes_ago=30),
        make_post(2, "alice b", username="alice", likes=1000, minutes_ago=30),
        make_post(3, "bob a", username="bob", likes=5, minutes_ago=30),
        make_post(4, "bob b", username="bob", likes=50, minutes_ago=30),
    ]
    ranked = rank_briefing(posts, [], {})
    assert ranked[0].post.text == "bob b"


def test_the_offline_briefing_puts_the_topics_first_and_cites_each_post_with_its_author() -> None:
    chips = make_post(1, "TSMC chips capacity doubles", username="bob", likes=10)
    gpus = make_post(2, "New GPU launch", username="carol", likes=10)
    lunch = make_post(3, "Lunch was nice", username="alice")
    request = SummaryRequest(
        username="alice",
        posts=[lunch, gpus, chips],
        topics=["GPU", "chips"],
        accounts=["alice", "bob", "carol"],
        reposted_by={chips.external_id: ["alice"]},
    )
    result = summarize_extractive(request)  # a briefing takes the briefing path
    content = result.content
    assert result.headline == "Briefing: 3 new posts from 3 accounts, on GPU, chips"
    assert content.index("### GPU") < content.index("### chips") < content.index("### Other posts")
    assert "**@carol**: New GPU launch" in content
    assert f"({chips.url}) · reposted by @alice" in content
    assert result.cited_post_ids == [gpus.external_id, chips.external_id, lunch.external_id]
    assert summarize_briefing(request) == result


def test_the_llm_reads_each_post_once_with_its_author_and_is_told_to_group_by_theme() -> None:
    posts = [make_post(1, "chips", username="bob"), make_post(2, "more chips", username="carol")]
    request = SummaryRequest(
        username="bob",
        posts=posts,
        topics=["chips"],
        accounts=["bob", "carol"],
        reposted_by={posts[0].external_id: ["alice"]},
    )
    prompt = build_prompt(request)
    assert "2 X accounts (@bob, @carol)" in prompt.system and '"### "' in prompt.system
    assert "Accounts: @bob, @carol" in prompt.user
    assert prompt.user.count('"author":"@bob"') == 1 and prompt.user.count('"author":"@carol"') == 1
    assert '"reposted_by":["@alice"]' in prompt.user
    chunks = chunk_posts(posts, budget_tokens=30, request=request)
    assert sum(len(chunk) for chunk in chunks) == 2
    assert "2 X accounts" in build_combine_prompt(request, ["- a [1]"]).system


def test_a_single_account_prompt_is_unchanged_by_briefings() -> None:
    post = make_post(1, "chips", username="bob")
    single = SummaryRequest(username="bob", posts=[post], topics=["chips"])
    assert "author" not in post_record(post, single)
    assert "Account: @bob" in build_prompt(single).user
    assert "the X account @bob" in build_prompt(single).system


# The English briefing's words ("Accounts" is Dutch too: "from" gives the English headline away).
ENGLISH = re.compile(r"\b(briefing|new posts?|more posts?|other posts|reposted by|on|and|from)\b", re.I)


@pytest.mark.parametrize("language", [code for code, _ in LANGUAGE_CHOICES if code != "en"])
def test_the_offline_briefing_writes_its_own_words_in_the_chosen_language(language: str) -> None:
    chips = make_post(1, "TSMC chips capacity doubles", username="bob", likes=10)
    lunch = make_post(2, "Lunch was nice", username="alice")
    extra = [make_post(10 + n, f"Quiet post {n}", username="carol") for n in range(4)]
    request = SummaryRequest(
        username="alice",
        posts=[lunch, chips, *extra],
        topics=["chips"],
        language=language,
        accounts=["alice", "bob", "carol"],
        reposted_by={chips.external_id: ["alice"]},
    )
    result = summarize_extractive(request)
    assert not ENGLISH.search(result.headline.replace("chips", "")), result.headline
    assert "6" in result.headline and "3" in result.headline
    own_words = [line for line in result.content.splitlines() if not line.startswith("- ")]
    assert not any(ENGLISH.search(line.replace("chips", "")) for line in own_words), own_words
    [point] = [line for line in result.content.splitlines() if chips.url in line]
    assert "TSMC chips capacity doubles" in point  # quoted as written
    assert "reposted by" not in point and (language == "it" or "[post](" not in point)  # "post" is Italian
    assert point.endswith("@alice") and result.content.rstrip().endswith("2")  # "…<more posts>: 2"


def test_a_german_briefing_reads_as_german() -> None:
    chips = make_post(1, "TSMC chips capacity doubles", username="bob", likes=10)
    lunch = make_post(2, "Lunch was nice", username="alice")
    request = SummaryRequest(
        username="alice",
        posts=[lunch, chips],
        topics=["chips"],
        language="de",
        accounts=["alice", "bob"],
        reposted_by={chips.external_id: ["alice"]},
    )
    result = summarize_extractive(request)
    assert result.headline == "Überblick · Neue Beiträge: 2 · Konten: 2 · Themen: chips"
    assert "### Weitere Beiträge" in result.content
    assert f"— [Beitrag]({chips.url}) · Geteilt von: @alice" in result.content
