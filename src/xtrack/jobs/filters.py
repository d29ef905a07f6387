"""A job's filters: what a run drops before any summarizer sees it (so dropped posts cost no tokens).

``PostFilters`` is both the API's shape (``filters`` on a job) and the value the pure
``keep_post`` / ``apply_filters`` take. Keywords match whole words, case-insensitively
("AI" matches "ai," and "#AI" but not "said")."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt, field_validator
from pydantic.config import JsonDict

from xtrack.sources.base import Post
from xtrack.text import SINGLE_LINE_PATTERN, check_single_line

MAX_KEYWORDS = 20
MAX_KEYWORD_LENGTH = 50
# What ``clean_keywords`` accepts, for the schema (counted as sent; spaces inside are collapsed first).
_KEYWORDS_SCHEMA: JsonDict = {
    "type": ["array", "null"],  # null: none
    "maxItems": MAX_KEYWORDS,
    "items": {"type": "string", "maxLength": MAX_KEYWORD_LENGTH, "pattern": SINGLE_LINE_PATTERN},
}
# The metric names the sources use for likes (``summarize.extractive.ENGAGEMENT_WEIGHTS``).
LIKE_METRICS = ("likes", "like_count", "favorite_count")


def _whole_number(value: object) -> object:
    """A JSON integer written with a fraction of zero (1200.0) is that integer; booleans and numeric
    strings stay refused (StrictInt)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


class PostFilters(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    exclude_replies: StrictBool = False
    exclude_reposts: StrictBool = False
    exclude_quotes: StrictBool = False
    include_keywords: list[str] = Field(
        default_factory=list,
        description="Keep only posts with one of these words (whole word, any case)",
        json_schema_extra=_KEYWORDS_SCHEMA,
    )
    exclude_keywords: list[str] = Field(
        default_factory=list,
        description="Drop posts with any of these words (whole word, any case)",
        json_schema_extra=_KEYWORDS_SCHEMA,
    )
    min_likes: Annotated[StrictInt, BeforeValidator(_whole_number)] = Field(
        default=0, ge=0, le=10_000_000, description="Likes read when the post was fetched"
    )

    @field_validator("include_keywords", "exclude_keywords", mode="before")
    @classmethod
    def _keywords(cls, value: object) -> list[str]:
        return clean_keywords(value)

    @property
    def is_empty(self) -> bool:
        return self == PostFilters()


def clean_keywords(value: object) -> list[str]:
    """Up to 20 keywords of up to 50 characters, trimmed, blanks and repeats (any case) dropped."""
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise ValueError("must be a list of strings")
    if len(value) > MAX_KEYWORDS:  # counted as sent, as the schema's maxItems counts them
        raise ValueError(f"at most {MAX_KEYWORDS} keywords")
    words: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise ValueError("every keyword must be a string")
        word = " ".join(check_single_line(item).split())
        if len(word) > MAX_KEYWORD_LENGTH:
            raise ValueError(f"each keyword must be at most {MAX_KEYWORD_LENGTH} characters")
        if word and word.casefold() not in {w.casefold() for w in words}:
            words.append(word)
    if len(words) > MAX_KEYWORDS:
        raise ValueError(f"at most {MAX_KEYWORDS} keywords")
    return words


def filters_of(stored: dict[str, Any] | None) -> PostFilters:
    """The filters stored on a job (``jobs.filters``, JSON); none when unset."""
    return PostFilters.model_validate(stored or {})


def _pattern(words: Sequence[str]) -> re.Pattern[str] | None:
    if not words:
        return None
    alternatives = "|".join(re.escape(word) for word in words)
    # Word boundaries that also hold for keywords starting or ending with a non-word character.
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def likes(post: Post) -> int:
    return next((int(post.metrics[name]) for name in LIKE_METRICS if name in post.metrics), 0)


def apply_filters(posts: Iterable[Post], filters: PostFilters) -> list[Post]:
    """The posts ``filters`` keep, in their order."""
    posts = list(posts)
    if filters.is_empty:
        return posts
    include, exclude = _pattern(filters.include_keywords), _pattern(filters.exclude_keywords)
    kept: list[Post] = []
    for post in posts:
        if (
            (filters.exclude_replies and post.is_reply)
            or (filters.exclude_reposts and post.is_repost)
            or (filters.exclude_quotes and post.is_quote)
            or likes(post) < filters.min_likes
            or (include is not None and include.search(post.text) is None)
            or (exclude is not None and exclude.search(post.text) is not None)
        ):
            continue
        kept.append(post)
    return kept
