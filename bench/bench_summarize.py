"""Summaries benchmark: the extractive summarizer's throughput and the LLM prompt's size.

    .venv/bin/python bench/bench_summarize.py [--posts 100 1000 10000] [--repeat 5] [--prompt-posts 100]

Posts are synthetic but shaped like real ones (100-280 characters, hashtags, links, mentions,
metrics, a quarter on the job's topics), generated from a fixed seed.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from xtrack.sources.base import Post
from xtrack.summarize.base import SummaryRequest
from xtrack.summarize.extractive import summarize_extractive
from xtrack.summarize.prompts import build_prompt, chunk_posts, estimate_tokens, input_budget

TOPICS = ["AI", "chips"]
VOCABULARY = (
    "the a new launch today team update thread model data cloud market demand supply price week "
    "customers release open source research paper benchmark results users growth policy"
)
WORDS = VOCABULARY.split()
TOPIC_WORDS = ["AI", "#AI", "chips", "chipmakers", "GPUs", "#Semiconductors", "chip"]


def synthetic_posts(count: int, *, seed: int = 42) -> list[Post]:
    rand = random.Random(seed)
    start = datetime(2026, 11, 25, tzinfo=UTC)
    posts = []
    for index in range(count):
        words = [rand.choice(WORDS) for _ in range(rand.randint(15, 40))]
        if rand.random() < 0.25:
            words.insert(rand.randrange(len(words)), rand.choice(TOPIC_WORDS))
        if rand.random() < 0.3:
            words.append(f"https://t.co/{rand.getrandbits(40):x}")
        if rand.random() < 0.2:
            words.insert(0, "@someone")
        text = " ".join(words)[:280]
        external_id = str(1_790_000_000_000_000_000 + index)
        posts.append(
            Post(
                external_id=external_id,
                author_username="bench",
                text=text,
                created_at=start - timedelta(minutes=count - index),
                url=f"https://x.com/bench/status/{external_id}",
                metrics={
                    "likes": int(rand.paretovariate(1.2)) * 3,
                    "reposts": int(rand.paretovariate(1.5)),
                    "replies": rand.randint(0, 20),
                },
                is_reply=words[0] == "@someone",
            )
        )
    return posts


def bench_extractive(count: int, repeat: int) -> tuple[float, float, float]:
    """(posts/s of the best run, posts/s of the median run, best milliseconds) over ``repeat`` runs;
    the best run is the one least disturbed by other work on the machine."""
    request = SummaryRequest("bench", synthetic_posts(count), TOPICS, "en")
    summarize_extractive(request)  # warm up
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        summarize_extractive(request)
        timings.append(time.perf_counter() - started)
    best = min(timings)
    return count / best, count / statistics.median(timings), best * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--posts", type=int, nargs="+", default=[100, 1_000, 10_000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--prompt-posts", type=int, default=100)
    parser.add_argument("--context-tokens", type=int, default=100_000, help="as XTRACK_LLM_CONTEXT_TOKENS")
    args = parser.parse_args()

    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, load {load}")
    print("\nextractive summarizer (topics: AI, chips)")
    print(f"{'posts':>8} {'posts/s best':>13} {'posts/s median':>15} {'best ms':>10}")
    for count in args.posts:
        best_rate, median_rate, best_ms = bench_extractive(count, args.repeat)
        print(f"{count:>8,} {best_rate:>13,.0f} {median_rate:>15,.0f} {best_ms:>10.2f}")

    posts = synthetic_posts(args.prompt_posts)
    request = SummaryRequest("bench", posts, TOPICS, "en")
    prompt = build_prompt(request)
    system_tokens, user_tokens = estimate_tokens(prompt.system), estimate_tokens(prompt.user)
    print(f"\nLLM prompt for {len(posts)} posts (estimated tokens, chars/4)")
    print(f"  system prompt  {system_tokens:>7,} tokens ({len(prompt.system):,} chars)")
    print(f"  user message   {user_tokens:>7,} tokens ({len(prompt.user):,} chars)")
    print(f"  total          {prompt.estimated_tokens:>7,} tokens, {user_tokens / len(posts):.1f} per post")
    budget = input_budget(args.context_tokens, 1024)
    per_post = user_tokens / len(posts)
    print(f"  one call holds about {int((budget - system_tokens) / per_post):,} such posts")
    print(f"  (budget {budget:,} tokens for a {args.context_tokens:,}-token context, 1,024 for the answer)")
    many = synthetic_posts(2_000)
    chunks = chunk_posts(many, budget_tokens=4_000)
    print(f"  2,000 posts at a 4,000-token chunk budget -> {len(chunks)} map calls + merge")


if __name__ == "__main__":
    main()
