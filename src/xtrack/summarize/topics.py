"""Does a post talk about a job's topics? Case-insensitive, word forms, hashtags; pure functions.

Words are reduced to a crude stem (a few English suffixes: chips -> chip, regulations -> regulat,
GPUs -> gpu). A topic word matches a post word when the stems are equal or, for stems of four
letters or more, when the post word's stem starts with the topic's (chip -> chipmaker, chipset).
Hashtags count as words and CamelCase hashtags are split (#AIChips -> ai chips). A topic of
several words matches the words in sequence, or a hashtag spelling them joined
(machine learning -> #MachineLearning).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

_URL = re.compile(r"https?://\S+", re.IGNORECASE)
_WORD = re.compile(r"#?\w+")
_CAMEL_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
# (suffix, replacement), first match wins; the remaining stem must keep at least 3 letters.
_SUFFIXES = (
    ("ations", ""),
    ("ation", ""),
    ("ments", ""),
    ("ment", ""),
    ("ings", ""),
    ("ing", ""),
    ("ness", ""),
    ("ers", ""),
    ("er", ""),
    ("ies", "y"),
    ("sses", "ss"),
    ("ches", "ch"),
    ("shes", "sh"),
    ("xes", "x"),
    ("ed", ""),
)
MIN_PREFIX_STEM = 4


@lru_cache(maxsize=65_536)  # vocabularies repeat: most words of a run were stemmed before
def stem(word: str) -> str:
    """A crude, deterministic stem: enough to match plural and derived forms of a topic."""
    word = word.casefold().strip("#'\u2019_")
    for suffix, replacement in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + replacement
    if (
        len(word) >= 3
        and word.endswith("s")
        and not word.endswith("ss")
        and not (word.endswith("is") and len(word) >= 5)  # analysis, crisis
    ):
        return word[:-1]  # plural, including acronyms: gpus -> gpu, ais -> ai
    return word


def words_match(topic_stem: str, word_stem: str) -> bool:
    if len(topic_stem) >= MIN_PREFIX_STEM:
        return word_stem.startswith(topic_stem)
    return word_stem == topic_stem


@dataclass(frozen=True, slots=True)
class PostWords:
    """A post's stems in reading order, the distinct stems, and every hashtag spelled whole."""

    stems: tuple[str, ...]
    vocabulary: frozenset[str]
    hashtags: frozenset[str]


def post_words(text: str) -> PostWords:
    stems: list[str] = []
    hashtags: set[str] = set()
    for token in _WORD.findall(_URL.sub(" ", text)):
        if token.startswith("#"):
            body = token[1:]
            hashtags.add(body.casefold())
            parts = _CAMEL_PART.findall(body)
            if len(parts) > 1:
                stems.extend(stem(part) for part in parts)
                continue
            token = body
        stems.append(stem(token))
    return PostWords(tuple(stems), frozenset(stems), frozenset(hashtags))


@dataclass(frozen=True, slots=True)
class TopicMatcher:
    """Built once per request from the job's topics; ``matches`` returns the matched topics' indexes."""

    topics: tuple[str, ...]
    stems: tuple[tuple[str, ...], ...]
    joined: tuple[str, ...]

    @classmethod
    def from_topics(cls, topics: Sequence[str]) -> TopicMatcher:
        kept: list[str] = []
        stems: list[tuple[str, ...]] = []
        joined: list[str] = []
        for topic in topics:
            words = [match.group().lstrip("#") for match in _WORD.finditer(topic)]
            words = [word for word in words if word]
            if not words:
                continue
            kept.append(topic.strip())
            stems.append(tuple(stem(word) for word in words))
            joined.append("".join(word.casefold() for word in words))
        return cls(tuple(kept), tuple(stems), tuple(joined))

    def __bool__(self) -> bool:
        return bool(self.topics)

    def matches(self, words: PostWords) -> tuple[int, ...]:
        found: list[int] = []
        for index, topic_stems in enumerate(self.stems):
            if self.joined[index] in words.hashtags:
                found.append(index)
            elif len(topic_stems) == 1:
                if _in_vocabulary(topic_stems[0], words.vocabulary):
                    found.append(index)
            elif _in_vocabulary(topic_stems[0], words.vocabulary) and _sequence_in(topic_stems, words.stems):
                found.append(index)
        return tuple(found)


def _in_vocabulary(topic_stem: str, vocabulary: frozenset[str]) -> bool:
    if len(topic_stem) < MIN_PREFIX_STEM:
        return topic_stem in vocabulary
    return topic_stem in vocabulary or any(word.startswith(topic_stem) for word in vocabulary)


def _sequence_in(topic_stems: tuple[str, ...], stems: tuple[str, ...]) -> bool:
    size = len(topic_stems)
    first = topic_stems[0]
    for start in range(len(stems) - size + 1):
        if words_match(first, stems[start]) and all(
            words_match(topic_stems[offset], stems[start + offset]) for offset in range(1, size)
        ):
            return True
    return False
