"""The default summarizer: offline, free, deterministic. Picks the posts that matter and quotes them.

Ranking (``rank_posts``): posts about the job's topics first (see ``topics``), then by a score of
engagement (likes, reposts, replies, quotes; log-scaled and normalised over the run) plus recency
(newest 1, oldest 0, weighted 0.5) plus 0.5 per extra topic matched; reposts and replies weigh a
little less than the account's own posts. Ties go to the newer post, so the output depends only
on the input.

Output: a ``## `` headline, bullets each quoting a post condensed to one line and linking it, then
a line counting the posts not quoted. With topics, the bullets quote only topic posts (1-7); a run
with none quotes its 3 leading posts under a line saying so, rather than padding a topic summary
with posts the reader did not ask about. Without topics: 5 bullets (fewer when the run is smaller).

Its own words follow the request's language (``wording.py``); the posts are quoted as written.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from xtrack.sources.base import Post
from xtrack.summarize.base import SummaryRequest, SummaryResult
from xtrack.summarize.citations import escape_markdown, markdown_link
from xtrack.summarize.post_text import UNKNOWN_AUTHOR, render_post
from xtrack.summarize.topics import TopicMatcher, post_words
from xtrack.summarize.wording import Wording, wording_for
from xtrack.summarize.wording import headline as labelled_headline
from xtrack.summarize.wording import more_posts as labelled_more_posts

MIN_BULLETS = 3  # quoted when nothing is on topic
MAX_BULLETS = 7
NO_TOPIC_BULLETS = 5  # a job without topics
BULLET_CHARS = 220
QUOTED_CHARS = 120  # the quoted post, in a quote's bullet: enough to say what it answers
RECENCY_WEIGHT = 0.5
EXTRA_TOPIC_WEIGHT = 0.5
NOTHING_ON_TOPICS = "Nothing on your topics. The most engaging recent posts:"
KIND_WEIGHT = {"repost": 0.6, "reply": 0.8, "quote": 1.0, "post": 1.0}

# Metric names used by the different sources, and how much one of each says about a post.
ENGAGEMENT_WEIGHTS = {
    "likes": 1.0,
    "like_count": 1.0,
    "favorite_count": 1.0,
    "reposts": 2.0,
    "retweets": 2.0,
    "retweet_count": 2.0,
    "repost_count": 2.0,
    "replies": 1.5,
    "reply_count": 1.5,
    "quotes": 2.0,
    "quote_count": 2.0,
    "bookmarks": 1.0,
    "bookmark_count": 1.0,
}

_URL = re.compile(r"https?://\S+", re.IGNORECASE)
_LEADING_MENTIONS = re.compile(r"^(?:@\w+\s+)+")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class RankedPost:
    post: Post
    topics: tuple[int, ...]  # indexes into the matcher's topics
    engagement: float  # 0..1 over the run
    recency: float  # 0..1 over the run
    score: float

    @property
    def on_topic(self) -> bool:
        return bool(self.topics)


def post_kind(post: Post) -> str:
    if post.is_repost:
        return "repost"
    if post.is_reply:
        return "reply"
    if post.is_quote:
        return "quote"
    return "post"


def engagement(post: Post) -> float:
    """log(1 + weighted interactions): 10 likes and 10,000 likes differ, but not by 1,000x."""
    total = sum(
        ENGAGEMENT_WEIGHTS.get(name, 0.0) * value
        for name, value in post.metrics.items()
        if isinstance(value, int | float) and value > 0
    )
    return math.log1p(total)


def rank_posts(posts: Sequence[Post], topics: Sequence[str]) -> list[RankedPost]:
    """Every post, most relevant first (topic posts before the others)."""
    if not posts:
        return []
    matcher = TopicMatcher.from_topics(topics)
    raw_engagement = [engagement(post) for post in posts]
    top_engagement = max(raw_engagement) or 1.0
    times = [post.created_at.timestamp() for post in posts]
    oldest, newest = min(times), max(times)
    span = (newest - oldest) or 1.0
    ranked = []
    for post, eng, when in zip(posts, raw_engagement, times, strict=True):
        matched = matcher.matches(post_words(render_post(post))) if matcher else ()
        eng_norm = eng / top_engagement
        recency = (when - oldest) / span
        score = (eng_norm + RECENCY_WEIGHT * recency) * KIND_WEIGHT[post_kind(post)]
        score += EXTRA_TOPIC_WEIGHT * max(0, len(matched) - 1)
        ranked.append(RankedPost(post, matched, eng_norm, recency, score))
    ranked.sort(key=lambda item: (not item.on_topic, -item.score, -_sort_key(item.post)))
    return ranked


def condense(text: str, *, limit: int = BULLET_CHARS) -> str:
    """One line of plain text: links and leading @mentions dropped, cut at a word near ``limit``."""
    text = _URL.sub(" ", text)
    text = _SPACE.sub(" ", text).strip()
    text = _LEADING_MENTIONS.sub("", text).strip() or text
    if len(text) > limit:
        cut = text[:limit]
        space = cut.rfind(" ")
        if space > limit * 0.6:
            cut = cut[:space]
        text = cut.rstrip(" ,;:.-") + "…"
    return text


def bullet_count(post_count: int, on_topic_count: int, *, has_topics: bool) -> int:
    if has_topics and on_topic_count:
        return min(MAX_BULLETS, on_topic_count)
    return min(post_count, MIN_BULLETS if has_topics else NO_TOPIC_BULLETS)


def join_words(items: Sequence[str], conjunction: str = "and") -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def headline_text(
    username: str, post_count: int, topics: Sequence[str], matched: Sequence[str], on_topic: int
) -> str:
    posts = plural(post_count, "new post")
    if not topics:
        return f"@{username}: {posts}"
    if not matched:
        return f"@{username}: {posts}, none on {join_words(list(topics[:3]), 'or')}"
    names = join_words(list(matched[:3]))
    if on_topic == post_count:
        return f"@{username}: {posts} on {names}"
    return f"@{username}: {posts}, {on_topic:,} on {names}"


def bullet(post: Post, wording: Wording | None = None) -> str:
    text = condense(post.text) or "(no text)"
    kind = post_kind(post)
    if kind == "repost" and not text.startswith("RT "):
        # Who said it: the reposted words are the original author's, not the account's.
        label = wording.reposted if wording else "Reposted"
        text = f"{label} @{post.original_author}: {text}" if post.original_author else f"{label}: {text}"
    elif kind == "reply":
        text = f"{wording.replied if wording else 'Replied'}: {text}"
    elif kind == "quote" and post.quoted_text:
        quoted = condense(post.quoted_text, limit=QUOTED_CHARS) or "…"
        text = f"{text} (quoting @{post.quoted_author or UNKNOWN_AUTHOR}: {quoted})"
    return f"- {escape_markdown(text)} — {markdown_link(wording.post if wording else 'post', post.url)}"


def more_line(others: int, other_on_topic: int, wording: Wording | None) -> str:
    """The line counting the posts not quoted."""
    if wording:
        return "…" + labelled_more_posts(wording, others, other_on_topic)
    more = f"…and {plural(others, 'more post')}"
    if other_on_topic:
        more += f", {other_on_topic:,} of them on your topics"
    return more + "."


def summarize_extractive(request: SummaryRequest) -> SummaryResult:
    """The whole extractive summary as a pure function of the request."""
    if request.is_briefing:
        from xtrack.summarize.briefing import summarize_briefing  # it builds on this module

        return summarize_briefing(request)
    posts = list(request.posts)
    username = request.username.lstrip("@")
    wording = wording_for(request.language)
    if not posts:
        headline = f"@{username} · {wording.no_new_posts}" if wording else f"@{username}: no new posts"
        return SummaryResult(content=f"## {escape_markdown(headline)}", headline=headline, model="extractive")
    ranked = rank_posts(posts, request.topics)
    matcher = TopicMatcher.from_topics(request.topics)
    on_topic = [item for item in ranked if item.on_topic]
    matched_indexes = sorted({index for item in on_topic for index in item.topics})
    matched_names = [matcher.topics[index] for index in matched_indexes]
    if wording:
        named = matched_names or list(matcher.topics)
        headline = labelled_headline(wording, username, len(posts), named, len(on_topic))
    else:
        headline = headline_text(username, len(posts), matcher.topics, matched_names, len(on_topic))

    wanted = bullet_count(len(posts), len(on_topic), has_topics=bool(matcher))
    chosen: list[RankedPost] = []
    seen_texts: set[str] = set()
    for item in on_topic or ranked:
        if len(chosen) == wanted:
            break
        key = condense(item.post.text).casefold()
        if key and key in seen_texts:
            continue  # the same text posted twice (or reposted) is quoted once
        seen_texts.add(key)
        chosen.append(item)

    lines = [f"## {escape_markdown(headline)}", ""]
    if matcher and not on_topic:
        nothing = (
            wording.nothing_on_topics
            if wording
            else "Nothing on your topics. The most engaging recent posts:"
        )
        lines.extend([escape_markdown(nothing), ""])
    lines.extend(bullet(item.post, wording) for item in chosen)
    others = len(posts) - len(chosen)
    if others:
        other_on_topic = len(on_topic) - sum(1 for item in chosen if item.on_topic)
        lines.extend(["", escape_markdown(more_line(others, other_on_topic, wording))])
    return SummaryResult(
        content="\n".join(lines),
        headline=headline,
        model="extractive",
        cited_post_ids=[item.post.external_id for item in chosen],
    )


class ExtractiveSummarizer:
    """Offline and free; also used for runs too small to be worth an LLM call."""

    name = "extractive"

    async def summarize(self, request: SummaryRequest) -> SummaryResult:
        return summarize_extractive(request)

    async def aclose(self) -> None:
        return None


def _sort_key(post: Post) -> int:
    try:
        return post.sort_key
    except ValueError:
        return 0
