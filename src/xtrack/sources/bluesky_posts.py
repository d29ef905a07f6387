"""Reading ``app.bsky.feed.getAuthorFeed`` items whole: the post or repost, its id as a cursor, its
links, what it quotes, and an author's self-thread joined into one post.

**The cursor.** XTrack's cursor is a post id whose order is the order of publication, one space for
every network (a briefing's one cursor spans its accounts). A Bluesky record key is a TID: 53 bits of
microseconds since 1970 and 10 bits of clock id, generated increasing by the author's PDS. The
feed item's record is the post itself, or for a repost the author's *repost record* (the reason's
``uri``), so the author's own record orders the feed item by when it entered the author's feed.
``tid_key`` maps a TID onto the X snowflake layout (milliseconds since the X epoch << 22, then the
microseconds remainder and the clock id in the low 20 bits): the mapping keeps the TIDs' order and
their time (``ids.snowflake_time`` reads it back), so a Bluesky post id compares with the X
posts' ids of the same briefing. A record key that is not a TID (or a repost reason without its
``uri``, from an older AppView) falls back to the item's time with a hash of its URI in the low
bits (bit 21 set, so it never equals a TID's key). The post itself is identified by its AT URI
(kept in ``raw``)."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from xtrack.sources.base import MalformedResponse, Post
from xtrack.sources.ids import X_EPOCH_MS, snowflake

TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
_TID_VALUE = {ch: i for i, ch in enumerate(TID_ALPHABET)}
_CLOCK_BITS = 10
_FALLBACK_BIT = 1 << 21
REPOST = "app.bsky.feed.defs#reasonRepost"
_METRICS = {"likeCount": "likes", "repostCount": "reposts", "replyCount": "replies", "quoteCount": "quotes"}


def tid_value(rkey: str) -> int | None:
    """The 64-bit integer a TID record key encodes, or None when ``rkey`` is not a TID."""
    if len(rkey) != 13 or rkey[0] not in "234567abcdefghij":
        return None
    value = 0
    for ch in rkey:
        digit = _TID_VALUE.get(ch)
        if digit is None:
            return None
        value = (value << 5) | digit
    return value


def make_tid(moment: datetime, clock_id: int = 0) -> str:
    """The TID of ``moment`` (aware) and ``clock_id`` (0..1023)."""
    value = (_micros(moment) << _CLOCK_BITS) | (clock_id & 0x3FF)
    return "".join(TID_ALPHABET[(value >> shift) & 31] for shift in range(60, -1, -5))


def _micros(moment: datetime) -> int:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    delta = moment - epoch
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def tid_key(rkey: str) -> int | None:
    """The snowflake-layout key of a TID record key (module docstring), or None when not a TID."""
    value = tid_value(rkey)
    if value is None:
        return None
    micros, clock = value >> _CLOCK_BITS, value & 0x3FF
    ms = micros // 1000 - X_EPOCH_MS
    if ms < 0:
        return None
    return (ms << 22) | ((micros % 1000) << _CLOCK_BITS) | clock


def rkey_of(uri: str) -> str:
    """The record key: the last part of ``at://did/collection/rkey``."""
    return uri.rsplit("/", 1)[-1]


def item_key(uri: str, moment: datetime) -> int:
    """The cursor key of the record at ``uri`` (its TID's), else of ``moment`` (module docstring)."""
    key = tid_key(rkey_of(uri))
    if key is not None:
        return key
    return snowflake(moment, _FALLBACK_BIT | (zlib.crc32(uri.encode()) & 0xFFFFF))


def parse_time(value: Any) -> datetime:
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def post_url(handle: str, uri: str) -> str:
    return f"https://bsky.app/profile/{handle}/post/{rkey_of(uri)}"


def expand_links(text: str, facets: Any) -> str:
    """``text`` with each link facet's shortened text replaced by its full ``uri`` (facets index
    the UTF-8 bytes of the text)."""
    if not isinstance(facets, list):
        return text
    raw = text.encode()
    spans: list[tuple[int, int, str]] = []
    for facet in facets:
        if not isinstance(facet, Mapping):
            continue
        index = facet.get("index") or {}
        for feature in facet.get("features") or []:
            if isinstance(feature, Mapping) and str(feature.get("$type", "")).endswith("#link"):
                start, end = index.get("byteStart"), index.get("byteEnd")
                if isinstance(start, int) and isinstance(end, int) and 0 <= start <= end <= len(raw):
                    spans.append((start, end, str(feature.get("uri", ""))))
    for start, end, uri in sorted(spans, reverse=True):
        if uri:
            raw = raw[:start] + uri.encode() + raw[end:]
    return raw.decode(errors="replace")


def record_text(record: Any, embed: Any = None) -> str:
    """A post record's text, links expanded, and its link card's address when the text lacks it."""
    if not isinstance(record, Mapping):
        return ""
    text = expand_links(str(record.get("text") or ""), record.get("facets"))
    external = embed.get("external") if isinstance(embed, Mapping) else None
    uri = external.get("uri") if isinstance(external, Mapping) else None
    if isinstance(uri, str) and uri and uri not in text:
        text = f"{text}\n{uri}".strip()
    return text


def quoted_of(embed: Any) -> tuple[bool, str | None, str | None]:
    """(is a quote, the quoted author's handle, the quoted text) from a post view's ``embed``:
    ``app.bsky.embed.record#view`` or ``recordWithMedia#view``; a quoted post that was deleted
    (``#viewNotFound``), blocked or detached is still a quote, without its text."""
    if not isinstance(embed, Mapping):
        return False, None, None
    kind = str(embed.get("$type", ""))
    record: Any = None
    if kind.startswith("app.bsky.embed.recordWithMedia"):
        outer = embed.get("record")
        record = outer.get("record") if isinstance(outer, Mapping) else None
    elif kind.startswith("app.bsky.embed.record"):
        record = embed.get("record")
    if not isinstance(record, Mapping):
        return False, None, None
    if not str(record.get("$type", "")).endswith("#viewRecord"):
        return True, None, None  # deleted, blocked or detached: the quote stays, its text is gone
    author = record.get("author")
    handle = str(author.get("handle")) if isinstance(author, Mapping) and author.get("handle") else None
    embeds = record.get("embeds")
    return (
        True,
        handle,
        record_text(record.get("value"), embeds[0] if isinstance(embeds, list) and embeds else None),
    )


def parse_item(item: Any, *, username: str) -> Post:
    """One ``app.bsky.feed.defs#feedViewPost`` of ``username``'s feed as a Post."""
    try:
        view = item["post"]
        uri = str(view["uri"])
        author = view["author"]
        record = view["record"]
        indexed = parse_time(view.get("indexedAt") or record["createdAt"])
        created = min(parse_time(record["createdAt"]), indexed)  # a post dated in the future sorts as indexed
        reason = item.get("reason")
        is_repost = isinstance(reason, Mapping) and reason.get("$type") == REPOST
        if is_repost:
            assert isinstance(reason, Mapping)
            created = parse_time(reason.get("indexedAt") or indexed.isoformat())
            key = item_key(str(reason.get("uri") or f"{uri}#repost"), created)
        else:
            key = item_key(uri, created)
        handle = str(author["handle"])
        text = record_text(record, view.get("embed"))
        is_quote, quoted_author, quoted_text = quoted_of(view.get("embed"))
        metrics = {
            name: int(view[field]) for field, name in _METRICS.items() if isinstance(view.get(field), int)
        }
        parent = (
            (record.get("reply") or {}).get("parent") if isinstance(record.get("reply"), Mapping) else None
        )
    except (KeyError, TypeError, ValueError, AssertionError) as exc:
        raise MalformedResponse(f"Bluesky returned a feed item that cannot be read ({exc!r})") from None
    return Post(
        external_id=str(key),
        author_username=username,
        text=text,
        created_at=created,
        url=post_url(handle, uri),
        metrics=metrics,
        is_repost=is_repost,
        is_reply=parent is not None,
        is_quote=is_quote,
        raw={
            "uri": uri,
            "cid": view.get("cid"),
            "author": author.get("did"),
            "reply_parent": parent.get("uri") if isinstance(parent, Mapping) else None,
            "repost_uri": reason.get("uri") if is_repost and isinstance(reason, Mapping) else None,
        },
        original_author=handle if is_repost else None,
        quoted_author=quoted_author,
        quoted_text=quoted_text,
    )


def join_threads(posts: list[Post], *, author_did: str | None) -> list[Post]:
    """An author's self-thread (replies of the author to the author's own posts, read together) as
    one post: the thread's first post read, with each reply's text after it, and the last reply's
    id (so the cursor moves past the whole thread). ``posts`` oldest first; reposts never join."""
    by_uri: dict[str, int] = {}
    joined: list[Post] = []
    for post in posts:
        raw = post.raw or {}
        parent = raw.get("reply_parent")
        head = by_uri.get(str(parent)) if parent and not post.is_repost else None
        if head is not None and (author_did is None or raw.get("author") == author_did):
            first = joined[head]
            thread = [*(first.raw or {}).get("thread", [(first.raw or {}).get("uri")]), raw.get("uri")]
            joined[head] = replace(
                first,
                external_id=post.external_id,
                text=f"{first.text}\n\n{post.text}",
                raw={**(first.raw or {}), "thread": thread},
            )
            by_uri[str(raw.get("uri"))] = head
            continue
        if not post.is_repost:
            by_uri[str(raw.get("uri"))] = len(joined)
        joined.append(post)
    return joined
