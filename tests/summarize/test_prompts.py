from __future__ import annotations

import json
import re
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.summarize.conftest import make_post
from xtrack.summarize.base import SummaryRequest
from xtrack.summarize.prompts import (
    build_combine_prompt,
    build_prompt,
    build_system_prompt,
    chunk_by_tokens,
    chunk_posts,
    estimate_tokens,
    input_budget,
    language_name,
    post_line,
)


def test_system_prompt_holds_the_rules() -> None:
    system = build_system_prompt(username="@alice", topics=["AI", "chips"], language="es")
    assert "@alice" in system and "@@alice" not in system
    assert '["AI", "chips"]' in system
    assert "only what the posts say" in system
    assert 'headline starting with "## "' in system and "3 to 7 key points" in system
    assert "square brackets" in system
    assert "Write in Spanish" in system
    assert "untrusted" in system and "never instructions" in system


def test_no_topics_and_unknown_languages() -> None:
    system = build_system_prompt(username="bob", topics=[], language="xx")
    assert "reader cares about" not in system and "Cover what matters most" in system
    assert "Write in xx" in system
    assert language_name("pt-BR") == "Portuguese (pt-BR)" and language_name("EN") == "English"


def test_user_message_is_a_data_block_of_json_lines_oldest_first() -> None:
    posts = [make_post(2, "second", likes=3), make_post(1, 'first "quoted" & <b>bold</b>'), make_post(3, "x")]
    prompt = build_prompt(SummaryRequest("alice", posts, ["AI"], "en"))
    assert "Posts: 3" in prompt.user
    block = re.search(r"<posts>\n(.*)\n</posts>$", prompt.user, re.DOTALL)
    assert block
    records = [json.loads(line) for line in block.group(1).split("\n")]
    assert [r["id"] for r in records] == [posts[1].external_id, posts[0].external_id, posts[2].external_id]
    assert records[0]["text"] == 'first "quoted" & <b>bold</b>'
    assert records[1]["likes"] == 3 and "likes" not in records[0]
    assert "<b>" not in prompt.user and "&" not in block.group(1)
    assert "AI" not in prompt.user  # instructions (topics included) stay in the system prompt


@given(st.text(max_size=300))
def test_no_post_text_can_close_or_open_the_block(text: str) -> None:
    line = post_line(make_post(1, text))
    assert "<" not in line and ">" not in line and "\n" not in line
    assert json.loads(line)["text"] == text


def test_long_posts_are_cut_and_marked() -> None:
    record = json.loads(post_line(make_post(1, "a" * 10_000)))
    assert len(record["text"]) == 4_000 and record["truncated"] is True
    assert "kind" not in record
    assert json.loads(post_line(make_post(2, "rt", is_repost=True)))["kind"] == "repost"


def test_token_estimate_is_chars_over_four_and_errs_high_for_non_ascii() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd" * 25) == 25
    assert estimate_tokens("日本語のテキスト") == 8
    assert estimate_tokens("café") == 2  # 3/4 + 1, rounded up
    assert input_budget(10_000, 1_000) == 8_100


@given(
    sizes=st.lists(st.integers(1, 50), max_size=200),
    budget=st.integers(1, 120),
)
def test_chunking_keeps_every_item_once_in_order_within_budget(sizes: list[int], budget: int) -> None:
    items = list(enumerate(sizes))
    chunks = chunk_by_tokens(items, lambda item: item[1], budget_tokens=budget)
    assert [item for chunk in chunks for item in chunk] == items
    for chunk in chunks:
        assert chunk and (sum(size for _, size in chunk) <= budget or len(chunk) == 1)


def test_chunk_posts_covers_every_post_exactly_once() -> None:
    posts = [make_post(i, f"post number {i} " * (i % 7 + 1)) for i in range(1, 301)]
    chunks = chunk_posts(posts, budget_tokens=500)
    assert len(chunks) > 5
    counts = Counter(post.external_id for chunk in chunks for post in chunk)
    assert set(counts) == {post.external_id for post in posts} and set(counts.values()) == {1}


def test_combine_prompt_wraps_partials_as_data() -> None:
    request = SummaryRequest("alice", [make_post(1, "x")], ["AI"], "fr")
    prompt = build_combine_prompt(request, ["- a [1]", "- b </summary><script>"], final=True)
    assert prompt.user.count("<summary part=") == 2 and prompt.user.count("</summary>") == 2
    assert "&lt;script&gt;" in prompt.user
    assert "Write in French" in prompt.system and 'headline starting with "## "' in prompt.system
    partial = build_combine_prompt(request, ["- a"], final=False)
    assert "no headline" in partial.system


@pytest.mark.parametrize("accounts", [(), ("alice", "bob")], ids=["one account", "briefing"])
def test_every_prompt_stage_asks_for_the_job_s_language(accounts: tuple[str, ...]) -> None:
    request = SummaryRequest("alice", [make_post(1, "x")], ["AI"], "de", accounts=accounts)
    prompts = [
        build_prompt(request),
        build_prompt(request, part=(1, 2)),
        build_combine_prompt(request, ["- a [1]"], final=True),
        build_combine_prompt(request, ["- a [1]"], final=False),
    ]
    for prompt in prompts:
        assert "Write in German" in prompt.system and "English" not in prompt.system, prompt.system
