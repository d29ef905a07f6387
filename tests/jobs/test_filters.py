"""A job's filters, applied before any summarizer (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from xtrack.jobs.filters import PostFilters, apply_filters
from xtrack.sources.base import Post


def post(text: str, *, likes: int = 0, **flags: bool) -> Post:
    return Post(
        external_id=str(abs(hash(text)) % 10**12),
        author_username="alice",
        text=text,
        created_at=datetime(2026, 12, 7, tzinfo=UTC),
        url="https://x.com/alice/status/1",
        metrics={"like_count": likes},
        **flags,
    )


POSTS = [
    post("AI chips are here", likes=10),
    post("a reply about AI", likes=50, is_reply=True),
    post("RT something", likes=5, is_repost=True),
    post("quoting #AI news", likes=1, is_quote=True),
    post("He said it again", likes=100),
]


@pytest.mark.parametrize(
    ("filters", "kept"),
    [
        ({}, [0, 1, 2, 3, 4]),
        ({"exclude_replies": True}, [0, 2, 3, 4]),
        ({"exclude_reposts": True, "exclude_quotes": True}, [0, 1, 4]),
        ({"include_keywords": ["ai"]}, [0, 1, 3]),  # whole word: "said" is not "ai"; "#AI" is
        ({"exclude_keywords": ["CHIPS", "again"]}, [1, 2, 3]),
        ({"min_likes": 10}, [0, 1, 4]),
        ({"include_keywords": ["ai"], "min_likes": 10, "exclude_replies": True}, [0]),
    ],
)
def test_filters_keep_what_they_say(filters: dict[str, object], kept: list[int]) -> None:
    assert apply_filters(POSTS, PostFilters.model_validate(filters)) == [POSTS[i] for i in kept]


def test_keywords_are_cleaned() -> None:
    filters = PostFilters.model_validate({"include_keywords": [" GPU ", "gpu", "", "chips"]})
    assert filters.include_keywords == ["GPU", "chips"]
    with pytest.raises(ValueError, match="at most 20"):
        PostFilters.model_validate({"exclude_keywords": [f"w{i}" for i in range(21)]})
