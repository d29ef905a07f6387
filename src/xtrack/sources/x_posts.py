"""Reading a page of X API v2 posts whole: the long text of ``note_tweet``, the reposted and quoted
posts from ``includes.tweets`` (with their authors from ``includes.users``), t.co links expanded
from ``entities.urls`` and edits folded into their latest version (``edit_history_tweet_ids``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from xtrack.sources.base import MalformedResponse, Post

_METRICS = {
    "like_count": "likes",
    "retweet_count": "reposts",
    "reply_count": "replies",
    "quote_count": "quotes",
    "impression_count": "views",
    "bookmark_count": "bookmarks",
}
# The text X gives a repost: "RT @name: " and the original's first ~140 characters.
_RT_PREFIX = re.compile(r"^RT @(\w{1,15}): ")


def expand_links(text: str, entities: Any) -> str:
    """``text`` with each t.co link (``entities.urls[].url``) replaced by its ``expanded_url``."""
    urls = entities.get("urls") if isinstance(entities, Mapping) else None
    for link in urls or []:
        if not isinstance(link, Mapping):
            continue
        short, target = link.get("url"), link.get("expanded_url")
        if isinstance(short, str) and isinstance(target, str) and short and target:
            text = text.replace(short, target)
    return text


def full_text(tweet: Mapping[str, Any]) -> str:
    """The whole text of a post: ``note_tweet.text`` for a post over 280 characters (``text`` is
    then cut), else ``text``; t.co links expanded with the matching ``entities``."""
    note = tweet.get("note_tweet")
    if isinstance(note, Mapping) and isinstance(note.get("text"), str):
        return expand_links(note["text"], note.get("entities"))
    return expand_links(str(tweet["text"]), tweet.get("entities"))


def superseded(tweet: Mapping[str, Any]) -> tuple[str, ...]:
    """The ids of the earlier versions of an edited post (``edit_history_tweet_ids`` lists every
    version, oldest first; the post itself is the latest when its id is the greatest)."""
    history = tweet.get("edit_history_tweet_ids")
    if not isinstance(history, list) or len(history) < 2:
        return ()
    own = str(tweet.get("id"))
    return tuple(str(other) for other in history if str(other) != own)


def is_latest_version(tweet: Mapping[str, Any]) -> bool:
    history = tweet.get("edit_history_tweet_ids")
    if not isinstance(history, list) or len(history) < 2:
        return True
    try:
        return int(str(tweet.get("id"))) >= max(int(str(version)) for version in history)
    except ValueError:
        return True


@dataclass(frozen=True, slots=True)
class Includes:
    """A page's ``includes``: referenced posts by id and usernames by user id."""

    tweets: dict[str, Mapping[str, Any]]
    usernames: dict[str, str]

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> Includes:
        includes = body.get("includes")
        if not isinstance(includes, Mapping):
            return cls({}, {})
        tweets = {
            str(tweet["id"]): tweet
            for tweet in includes.get("tweets") or []
            if isinstance(tweet, Mapping) and "id" in tweet
        }
        usernames = {
            str(user["id"]): str(user["username"]).lower()[:15]
            for user in includes.get("users") or []
            if isinstance(user, Mapping) and "id" in user and "username" in user
        }
        return cls(tweets, usernames)

    def referenced(self, tweet: Mapping[str, Any], kind: str) -> tuple[str, Mapping[str, Any] | None]:
        """The id and (when X included it) the post ``tweet`` references as ``kind``."""
        for ref in tweet.get("referenced_tweets") or []:
            if isinstance(ref, Mapping) and ref.get("type") == kind:
                ref_id = str(ref.get("id"))
                return ref_id, self.tweets.get(ref_id)
        return "", None

    def author_of(self, tweet: Mapping[str, Any] | None) -> str | None:
        if tweet is None:
            return None
        return self.usernames.get(str(tweet.get("author_id")))


def _created_at(value: Any) -> datetime:
    created_at = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=UTC)
    return created_at.astimezone(UTC)


def parse_tweet(tweet: Any, *, username: str, includes: Includes | None = None) -> Post:
    """A v2 post object as a Post (MalformedResponse when it lacks what every post has). A repost
    carries the original's whole text and author; a quote the quoted post's."""
    includes = includes or Includes({}, {})
    try:
        post_id = str(tweet["id"])
        if not post_id.isdigit():
            raise ValueError(f"id {post_id!r} is not numeric")
        created_at = _created_at(tweet["created_at"])
        text = full_text(tweet)
        metrics_raw = tweet.get("public_metrics") or {}
        metrics = {
            name: int(metrics_raw[key]) for key, name in _METRICS.items() if metrics_raw.get(key) is not None
        }
        references = {str(ref.get("type")) for ref in tweet.get("referenced_tweets") or []}
        original_author = quoted_author = quoted_text = None
        if "retweeted" in references:
            _id, original = includes.referenced(tweet, "retweeted")
            prefix = _RT_PREFIX.match(text)
            if original is not None:
                text = full_text(original)
                original_author = includes.author_of(original)
            elif prefix is not None:
                # X left the original out (deleted or withheld: a partial ``errors`` entry): keep
                # the cut text it gave, without the "RT @name: " it starts with.
                text = text[prefix.end() :]
            if original_author is None and prefix is not None:
                original_author = prefix.group(1).lower()
        if "quoted" in references:
            _id, quoted = includes.referenced(tweet, "quoted")
            if quoted is not None:
                quoted_text = full_text(quoted)
                quoted_author = includes.author_of(quoted)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise MalformedResponse(f"X returned a post that cannot be read ({exc})") from None
    return Post(
        external_id=post_id,
        author_username=username,
        text=text,
        created_at=created_at,
        url=f"https://x.com/{username}/status/{post_id}",
        metrics=metrics,
        is_repost="retweeted" in references,
        is_reply="replied_to" in references,
        is_quote="quoted" in references,
        raw=dict(tweet),
        original_author=original_author,
        quoted_author=quoted_author,
        quoted_text=quoted_text,
        replaces=superseded(tweet),
    )


def page_posts(body: Mapping[str, Any], data: list[Any], *, username: str) -> list[Post]:
    """The posts of one timeline page, an edited post once (its latest version)."""
    includes = Includes.of(body)
    return [
        parse_tweet(tweet, username=username, includes=includes)
        for tweet in data
        if not isinstance(tweet, Mapping) or is_latest_version(tweet)
    ]
