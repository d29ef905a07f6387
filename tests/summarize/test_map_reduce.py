"""2,000 posts and a small model budget: summarize chunks, then merge, dropping nothing."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.summarize.conftest import llm_settings, make_post
from tests.summarize.fakes import FakeLLM, Received, Reply
from xtrack.summarize.base import SummarizeError, SummaryRequest
from xtrack.summarize.openai import OpenAISummarizer
from xtrack.summarize.prompts import estimate_tokens, input_budget

TOPICS = ["chips", "AI"]


async def test_two_thousand_posts_are_map_reduced_with_every_post_in_exactly_one_chunk(
    openai_server: tuple[FakeLLM, str],
) -> None:
    fake, base_url = openai_server
    fake.reset()
    posts = [
        make_post(i, f"Update {i} on chips and AI supply, #AI #chips, see thread", likes=i)
        for i in range(2000)
    ]

    def respond(received: Received) -> Reply:
        lines = received.post_lines()
        if lines:  # a map call: a point per post for the first eight, and a made-up id
            text = "\n".join(f"- Point on {line['text'][:40]} [{line['id']}]" for line in lines[:8])
            text += "\n- Invented point [1790000000009999999]"
        else:  # a merge call: keep the first cited id it was given
            first_id = received.user.split("[", 1)[1].split("]", 1)[0]
            text = f"## Supply news\n\n- Merged points [{first_id}]"
        return Reply(json=fake.make_reply(text, prompt_tokens=1000, completion_tokens=50))

    fake.responder = respond
    settings = llm_settings("openai", base_url, llm_context_tokens=3_000, llm_max_output_tokens=500)
    summarizer = OpenAISummarizer(settings)
    try:
        result = await summarizer.summarize(SummaryRequest("alice", posts, TOPICS, "en"))
    finally:
        await summarizer.aclose()

    map_calls = [received for received in fake.requests if received.post_lines()]
    merge_calls = [received for received in fake.requests if not received.post_lines()]
    assert len(map_calls) > 20
    assert len(merge_calls) > 1  # the partial summaries needed more than one merge round
    seen = Counter(line["id"] for received in map_calls for line in received.post_lines())
    assert set(seen) == {post.external_id for post in posts}
    assert set(seen.values()) == {1}  # every post in exactly one chunk

    budget = input_budget(3_000, 500)
    for received in fake.requests:
        assert estimate_tokens(received.system) + estimate_tokens(received.user) <= budget
        assert received.body["max_tokens"] == 500
    # Merge calls see partial summaries, whose made-up ids were already removed.
    assert all("1790000000009999999" not in received.user for received in merge_calls)
    assert sum("<partial_summaries>" in received.user for received in merge_calls) == len(merge_calls)

    calls = len(fake.requests)
    assert result.llm_calls == calls
    assert (result.input_tokens, result.output_tokens) == (1000 * calls, 50 * calls)
    assert result.cost > 0
    assert result.headline == "Supply news"
    assert result.cited_post_ids == [posts[0].external_id]
    assert posts[0].url in result.content


async def test_small_inputs_take_one_call(openai_server: tuple[FakeLLM, str]) -> None:
    fake, base_url = openai_server
    fake.reset()
    posts = [make_post(i, f"chips {i}") for i in range(50)]
    fake.reply(Reply(json=fake.make_reply(f"## Chips\n\n- chips [{posts[3].external_id}]")))
    summarizer = OpenAISummarizer(llm_settings("openai", base_url))
    try:
        result = await summarizer.summarize(SummaryRequest("alice", posts, TOPICS, "en"))
    finally:
        await summarizer.aclose()
    assert result.llm_calls == 1 and len(fake.requests) == 1
    assert len(fake.requests[0].post_lines()) == 50


async def test_parts_citing_only_made_up_posts_fail(openai_server: tuple[FakeLLM, str]) -> None:
    fake, base_url = openai_server
    fake.reset()
    posts = [make_post(i, f"Update {i} on chips and AI supply, #AI #chips, see thread") for i in range(300)]
    fake.responder = lambda received: Reply(json=fake.make_reply("- Invented [1790000000009999999]"))
    summarizer = OpenAISummarizer(llm_settings("openai", base_url, llm_context_tokens=3_000))
    try:
        with pytest.raises(SummarizeError, match="cited no real post"):
            await summarizer.summarize(SummaryRequest("alice", posts, TOPICS, "en"))
    finally:
        await summarizer.aclose()
    assert all(received.post_lines() for received in fake.requests)  # no merge was attempted
