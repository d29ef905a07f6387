from __future__ import annotations

import pytest

from xtrack.summarize.topics import TopicMatcher, post_words, stem


@pytest.mark.parametrize(
    ("word", "expected"),
    [("chips", "chip"), ("GPUs", "gpu"), ("AIs", "ai"), ("policies", "policy"), ("analysis", "analysis"),
     ("regulations", "regul"), ("class", "class"), ("#Chips", "chip")],
)  # fmt: skip
def test_stems(word: str, expected: str) -> None:
    assert stem(word) == expected


@pytest.mark.parametrize(
    ("text", "matched"),
    [
        ("New #AIChips from Nvidia", (0, 1)),
        ("The chipmaker rallied", (1,)),
        ("CHIPS act passes", (1,)),
        ("AI-powered search", (0,)),
        ("I love #MachineLearning", (2,)),
        ("#machinelearning all day", (2,)),
        ("machine-learning models", (2,)),
        ("learning about machines", ()),
        ("#Robotics demo", (3,)),
        ("Fresh air, aim high, said Aida", ()),
        ("see https://ai.example.com/chips", ()),
    ],
)
def test_topic_matching(text: str, matched: tuple[int, ...]) -> None:
    matcher = TopicMatcher.from_topics(["AI", "chips", "machine learning", "#robotics", "  ", "#"])
    assert matcher.topics == ("AI", "chips", "machine learning", "#robotics")
    assert matcher.matches(post_words(text)) == matched
