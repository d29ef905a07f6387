"""Briefings: one summary across many accounts, as pure functions.

* ``fold_reposts``: the same post reposted by several followed accounts is kept once; the reposts
  fold into it (the original when an account followed wrote it, else the first repost), noting who
  reposted it.
* ``summarize_briefing``: the offline summary of a briefing. Points are grouped by theme (the job's
  topics first, in their order, then "Other posts"), ranked by relevance to the topics, then by
  engagement relative to the author's usual level in this run (one account's 50 likes may be a lot,
  another's 5,000 may be quiet), then by how many followed accounts reposted the post, then by
  recency. Each point names its author and links its post.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from xtrack.sources.base import Post
from xtrack.summarize.base import SummaryRequest, SummaryResult
from xtrack.summarize.citations import escape_markdown, markdown_link
from xtrack.summarize.extractive import condense, engagement, plural
from xtrack.summarize.post_text import render_post
from xtrack.summarize.topics import TopicMatcher, post_words
from xtrack.summarize.wording import (
    BriefingWords,
    Wording,
    briefing_words_for,
    labelled,
    wording_for,
)
from xtrack.summarize.wording import briefing_headline as labelled_briefing_headline

POINTS_PER_TOPIC = 5
OTHER_POINTS = 3  # under "Other posts" when the job has topics
NO_TOPIC_POINTS = 8  # a briefing without topics
RECENCY_WEIGHT = 0.3
REPOST_WEIGHT = 0.5  # per followed account that reposted the post
OTHER_THEME = "Other posts"

_RT_PREFIX = re.compile(r"^RT @(\w{1,15}):\s*", re.IGNORECASE)


def repost_of(post: Post) -> str | None:
    """The id of the post a repost shares, when the source said it (X's ``referenced_tweets``)."""
    if not post.is_repost or not post.raw:
        return None
    for reference in post.raw.get("referenced_tweets") or []:
        if isinstance(reference, dict) and reference.get("type") == "retweeted" and reference.get("id"):
            return str(reference["id"])
    return None


def _text_key(post: Post) -> str:
    """A repost's text without its "RT @author:" prefix, for sources that give no referenced id."""
    return " ".join(_RT_PREFIX.sub("", post.text).split()).casefold()[:200]


@dataclass(frozen=True, slots=True)
class Folded:
    posts: list[Post]  # each shared post once, in the input's order
    reposted_by: dict[str, list[str]]  # kept post id -> followed accounts that reposted it


def fold_reposts(posts: Sequence[Post]) -> Folded:
    """Each post once: reposts of one post fold into it (the original when it is among ``posts``,
    else the first repost). Posts of different authors never fold on their id alone: ids derived
    from dates (RSS) may collide across accounts."""
    kept: dict[tuple[str, str], Post] = {}
    by_id: dict[str, tuple[str, str]] = {}
    by_text: dict[str, tuple[str, str]] = {}
    for post in posts:  # originals first, so reposts can fold into them
        key = (post.external_id, post.author_username.lower())
        if not post.is_repost and key not in kept:
            kept[key] = post
            by_id.setdefault(post.external_id, key)
            by_text.setdefault(_text_key(post), key)
    reposted_by: dict[tuple[str, str], list[str]] = defaultdict(list)
    for post in posts:
        if not post.is_repost:
            continue
        target = repost_of(post)
        found = (by_id.get(target) if target else None) or by_text.get(_text_key(post))
        if found is None:  # the original is not followed: the first repost stands for it
            found = (target or post.external_id, "")
            kept.setdefault(found, post)
            by_text.setdefault(_text_key(post), found)
            if target:
                by_id.setdefault(target, found)
        if post.author_username.lower() not in {name.lower() for name in reposted_by[found]}:
            reposted_by[found].append(post.author_username)
    order = {id(post): index for index, post in enumerate(posts)}
    ordered = sorted(kept.items(), key=lambda item: order[id(item[1])])
    return Folded(
        [post for _key, post in ordered],
        {post.external_id: reposted_by[key] for key, post in ordered if reposted_by.get(key)},
    )


def briefing_point(
    post: Post, reposted_by: Sequence[str] = (), *, label: str = "post", reposted_label: str | None = None
) -> str:
    """One point of a briefing: the author, the post on one line, its link, who reposted it.
    A repost reads as its original author's words, reposted by the account that shared it."""
    author = post.author_username
    if post.is_repost and post.original_author:
        # ``reposted_by`` may already name this repost's own account (it stands for its original).
        others = [name for name in reposted_by if name.lower() != post.author_username.lower()]
        author, reposted_by = post.original_author, [post.author_username, *others]
        body = post.text
    else:
        body = render_post(post)  # a quote carries the quoted post beside its own words
    text = escape_markdown(condense(_RT_PREFIX.sub("", body)) or "(no text)")
    point = f"- **@{escape_markdown(author)}**: {text} — {markdown_link(label, post.url)}"
    if reposted_by:
        names = ", ".join(f"@{escape_markdown(name)}" for name in reposted_by)
        point += f" · {reposted_label}{names}" if reposted_label else f" · reposted by {names}"
    return point


@dataclass(frozen=True, slots=True)
class Ranked:
    post: Post
    theme: int | None  # index of the first topic it matches
    score: float


def rank_briefing(
    posts: Sequence[Post], topics: Sequence[str], reposted_by: Mapping[str, Sequence[str]]
) -> list[Ranked]:
    """Every post with its theme, most relevant first (see the module docstring)."""
    if not posts:
        return []
    matcher = TopicMatcher.from_topics(topics)
    raw = [engagement(post) for post in posts]
    usual: dict[str, list[float]] = defaultdict(list)
    for post, value in zip(posts, raw, strict=True):
        usual[post.author_username.lower()].append(value)
    means = {author: (sum(values) / len(values)) for author, values in usual.items()}
    times = [post.created_at.timestamp() for post in posts]
    oldest, span = min(times), (max(times) - min(times)) or 1.0
    ranked = []
    for post, value, when in zip(posts, raw, times, strict=True):
        matched = matcher.matches(post_words(post.text)) if matcher else ()
        relative = math.log1p(value / (means[post.author_username.lower()] or 1.0))
        score = len(matched) + relative + RECENCY_WEIGHT * (when - oldest) / span
        score += REPOST_WEIGHT * len(reposted_by.get(post.external_id, ()))
        ranked.append(Ranked(post, matched[0] if matched else None, score))
    ranked.sort(key=lambda item: (-item.score, -int(item.post.external_id or 0)))
    return ranked


def summarize_briefing(request: SummaryRequest) -> SummaryResult:
    """The offline summary of a briefing, grouped by theme, each point citing its post and author."""
    posts = list(request.posts)
    topics = list(TopicMatcher.from_topics(request.topics).topics)
    ranked = rank_briefing(posts, topics, request.reposted_by)
    groups: dict[int | None, list[Ranked]] = defaultdict(list)
    for item in ranked:
        groups[item.theme].append(item)
    themes = [topics[index] for index in range(len(topics)) if groups.get(index)]
    # Its own words in the job's language (the posts stay as written); English without a wording.
    words = _Words.of(request.language)
    headline = words.headline(len(posts), len(request.accounts), themes)
    lines = [f"## {escape_markdown(headline)}"]
    cited: list[str] = []
    sections: list[tuple[str | None, list[Ranked]]] = [(topics[i], groups[i]) for i in range(len(topics))]
    other_limit = OTHER_POINTS if topics else NO_TOPIC_POINTS
    sections.append((words.other_theme if topics else None, groups.get(None, [])))
    for title, items in sections:
        chosen = items[: POINTS_PER_TOPIC if title not in (words.other_theme, None) else other_limit]
        if not chosen:
            continue
        lines.append("")
        if title:
            lines.extend([f"### {escape_markdown(title)}", ""])
        for item in chosen:
            reposted_by = request.reposted_by.get(item.post.external_id, ())
            lines.append(words.point(item.post, reposted_by))
            cited.append(item.post.external_id)
    if len(cited) < len(posts):
        lines.extend(["", escape_markdown(words.more(len(posts) - len(cited)))])
    return SummaryResult(
        content="\n".join(lines), headline=headline, model="extractive", cited_post_ids=cited
    )


@dataclass(frozen=True, slots=True)
class _Words:
    """A briefing's own words: English, or the job's language when the form offers it."""

    wording: Wording | None
    briefing: BriefingWords | None

    @classmethod
    def of(cls, language: str) -> _Words:
        wording, briefing = wording_for(language), briefing_words_for(language)
        return cls(wording, briefing) if wording and briefing else cls(None, None)

    @property
    def other_theme(self) -> str:
        return self.wording.more_posts if self.wording else OTHER_THEME

    def headline(self, post_count: int, account_count: int, themes: list[str]) -> str:
        if self.wording and self.briefing:
            return labelled_briefing_headline(self.wording, self.briefing, post_count, account_count, themes)
        headline = f"Briefing: {plural(post_count, 'new post')} from {plural(account_count, 'account')}"
        return f"{headline}, on {', '.join(themes[:3])}" if themes else headline

    def point(self, post: Post, reposted_by: Sequence[str]) -> str:
        if self.wording and self.briefing:
            label = f"{self.briefing.reposted_by}{self.wording.colon}"
            return briefing_point(post, reposted_by, label=self.wording.post, reposted_label=label)
        return briefing_point(post, reposted_by)

    def more(self, count: int) -> str:
        if self.wording:
            return "…" + labelled(self.wording, self.wording.more_posts, count)
        return f"…and {plural(count, 'more post')}."
