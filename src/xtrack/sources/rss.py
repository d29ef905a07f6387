"""An RSS/Atom feed per account (a self-hosted RSSHub, Nitter or similar), read with feedparser
and fetched conditionally (ETag / Last-Modified) so an unchanged feed costs a 304.

Bridges differ from X in ways the posts must not inherit: a repost ("RT by @a:" on Nitter, "RT Name:"
on RSSHub) links to the original post and is dated when the original was written, so it is told by
its link's author and re-dated just after the item below it in the feed (when it appeared); the
author is the link's path, not RSSHub's display name; links point at x.com, not the bridge. A page
instead of a feed (an error, a bot check, "not whitelisted") is the bridge's message (bridges.py)."""

from __future__ import annotations

import asyncio
import calendar
import hashlib
import html
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

import feedparser

from xtrack.db import utcnow
from xtrack.sources.base import AccountInfo, FetchResult, MalformedResponse, Post
from xtrack.sources.bridges import is_page, page_error
from xtrack.sources.http import Clock, SourceHttp
from xtrack.sources.ids import X_EPOCH, snowflake, status_id_from_url

# A feed at least this long that does not reach back to the window's start probably dropped posts.
FULL_FEED = 20
# Nitter titles a repost "RT by @account: …", RSSHub "RT Display Name: …".
_REPOST = re.compile(r"^RT(?: by @\w{1,15}| [^:\n]{1,60})?:\s*")
_NITTER_REPOST = re.compile(r"^RT by @\w{1,15}:")
_REPLY = re.compile(r"^R to @\w+:\s*")
# The author and id of a status link, on x.com, twitter.com or the bridge's own host.
_STATUS_LINK = re.compile(r"^https?://[^/]+/(\w{1,15})/status(?:es)?/(\d{1,20})")
# Answers read as the bridge's page, not as a feed (the rest are handled by SourceHttp).
_BRIDGE_PAGE_STATUSES = frozenset({403, 503})


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"br", "p", "div", "li", "blockquote"}:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(value: str) -> str:
    extractor = _TextExtractor()
    extractor.feed(value)
    extractor.close()
    lines = (" ".join(line.split()) for line in "".join(extractor.parts).splitlines())
    return "\n".join(line for line in lines if line)


def _entry_time(entry: Mapping[str, Any]) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    return None


def entry_to_post(entry: Mapping[str, Any], *, username: str) -> Post | None:
    """A feed item as a Post; ``None`` for an item without a date (it cannot be placed). A repost
    keeps the original's id and date here (``date_reposts`` re-dates it)."""
    created_at = _entry_time(entry)
    if created_at is None or created_at < X_EPOCH:
        return None
    link = str(entry.get("link") or "")
    guid = str(entry.get("id") or "")
    post_id = status_id_from_url(link) or status_id_from_url(guid)
    if post_id is None:
        # No status URL: derive a snowflake from the date; the low bits tell same-second items apart.
        digest = hashlib.blake2b(f"{guid}|{link}|{entry.get('title', '')}".encode(), digest_size=4)
        post_id = str(snowflake(created_at, int.from_bytes(digest.digest(), "big")))
    title = html.unescape(str(entry.get("title") or ""))
    summary = str(entry.get("summary") or "")
    text = html_to_text(summary) if summary else title
    linked = _STATUS_LINK.match(link) or _STATUS_LINK.match(guid)
    link_author = linked.group(1).lower() if linked else None
    # A repost links to someone else's post (RSSHub), or says so in its title (Nitter).
    is_repost = bool(link_author and link_author != username.lower()) or bool(_NITTER_REPOST.match(title))
    if is_repost:
        text = _REPOST.sub("", text)
    return Post(
        external_id=post_id,
        author_username=username.lower()[:15],
        text=_REPLY.sub("", text),
        created_at=created_at,
        url=(f"https://x.com/{linked.group(1)}/status/{linked.group(2)}" if linked else link)[:300]
        or f"https://x.com/{username}/status/{post_id}",
        is_repost=is_repost,
        is_reply=bool(_REPLY.match(title)),
        raw={"title": title, "link": link, "guid": guid, "summary": summary},
        original_author=link_author if is_repost else None,
    )


def date_reposts(posts: list[Post]) -> list[Post]:
    """``posts`` in feed order (newest first) with each repost dated when it appeared: just after
    the item below it (the feed lists reposts where they were made, but dates them at the
    original). Its id is then a snowflake of that time, stable while the items below it stay."""
    dated: list[Post] = []
    below: datetime | None = None
    for post in reversed(posts):
        if post.is_repost and below is not None:
            appeared = max(post.created_at, below + timedelta(milliseconds=1))
            digest = hashlib.blake2b(post.external_id.encode(), digest_size=4).digest()
            post = replace(
                post,
                created_at=appeared,
                external_id=str(snowflake(appeared, int.from_bytes(digest, "big"))),
            )
        below = post.created_at
        dated.append(post)
    return dated[::-1]


def parse_feed(content: bytes, *, url: str, content_type: str | None) -> list[Mapping[str, Any]]:
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    parsed = feedparser.parse(content, response_headers=headers)
    if parsed.get("bozo") and not parsed.get("entries") and not parsed.get("feed"):
        reason = parsed.get("bozo_exception")
        raise MalformedResponse(f"the RSS feed cannot be parsed ({reason.__class__.__name__})")
    entries: list[Mapping[str, Any]] = list(parsed.get("entries") or [])
    return entries


class RssSource:
    """``XTRACK_RSS_URL_TEMPLATE`` with ``{username}``. Feeds carry no account ids, so ``resolve``
    makes no request; an unknown account shows up as a 404 on the feed."""

    name = "rss"
    timeline_depth: int | None = None

    def __init__(
        self,
        *,
        url_template: str,
        public_url: str,
        timeout: float,
        max_retries: int,
        retry_base_seconds: float = 1.0,
        clock: Clock = utcnow,
        max_connections: int = 50,
    ) -> None:
        self.url_template = url_template
        self.http = SourceHttp(
            source_name=self.name,
            base_url="",
            public_url=public_url,
            timeout=timeout,
            max_retries=max_retries,
            headers={"Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5"},
            passthrough_statuses=_BRIDGE_PAGE_STATUSES,
            retry_base_seconds=retry_base_seconds,
            clock=clock,
            max_connections=max_connections,
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    def feed_url(self, username: str) -> str:
        return self.url_template.replace("{username}", quote(username, safe=""))

    async def resolve(self, username: str) -> AccountInfo:
        return AccountInfo(username=username, external_id=username)

    async def fetch(
        self,
        account: AccountInfo,
        *,
        since_id: str | None,
        start_time: datetime | None,
        etag: str | None = None,
        last_modified: str | None = None,
        end_time: datetime | None = None,
    ) -> FetchResult:
        url = self.feed_url(account.username)
        headers: dict[str, str] = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        reply = await self.http.get(url, headers=headers)
        response = reply.response
        if response.status_code == 304:
            return FetchResult(
                posts=[],
                requests=reply.attempts,
                etag=etag,
                last_modified=last_modified,
                not_modified=True,
                rate_limit_remaining=reply.rate_limit.remaining,
                rate_limit_reset_at=reply.rate_limit.reset_at,
            )
        if response.status_code in _BRIDGE_PAGE_STATUSES or response.status_code == 404 or is_page(response):
            # An error page, a bot check, "not whitelisted": never a silent empty run.
            raise page_error(response, username=account.username)
        # feedparser is pure Python: parse off the event loop.
        entries = await asyncio.to_thread(
            parse_feed, response.content, url=url, content_type=response.headers.get("content-type")
        )
        floor = int(since_id) if since_id is not None else None
        posts: dict[str, Post] = {}
        reached = False
        read = [post for entry in entries if (post := entry_to_post(entry, username=account.username))]
        dated = len(read)
        for post in date_reposts(read):
            if floor is not None and post.sort_key <= floor:
                reached = True
                continue
            if start_time is not None and post.created_at < start_time:
                reached = True
                continue
            if end_time is not None and post.created_at > end_time:
                continue
            posts[post.external_id] = post
        # A feed is a window of the latest items: when it does not reach back to the cursor, posts
        # in between may have scrolled out of it.
        gap = bool(posts) and not reached and (floor is not None or dated >= FULL_FEED)
        return FetchResult(
            posts=sorted(posts.values(), key=lambda p: p.sort_key),
            gap=gap,
            gap_note="the feed no longer reaches back to the previous run: posts may have scrolled out of it"
            if gap
            else None,
            requests=reply.attempts,
            posts_read=len(entries),
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
            rate_limit_remaining=reply.rate_limit.remaining,
            rate_limit_reset_at=reply.rate_limit.reset_at,
        )
