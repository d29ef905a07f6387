"""An RSS/Atom feed per account (a self-hosted RSSHub, Nitter or similar), read with feedparser
and fetched conditionally (ETag / Last-Modified) so an unchanged feed costs a 304."""

from __future__ import annotations

import asyncio
import calendar
import hashlib
import html
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

import feedparser

from xtrack.db import utcnow
from xtrack.sources.base import AccountInfo, AccountNotFound, FetchResult, MalformedResponse, Post
from xtrack.sources.http import Clock, SourceHttp
from xtrack.sources.ids import X_EPOCH, snowflake, status_id_from_url

# A feed at least this long that does not reach back to the window's start probably dropped posts.
FULL_FEED = 20
_REPOST = re.compile(r"^RT(?: by @\w+)?:\s*")
_REPLY = re.compile(r"^R to @\w+:\s*")


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
    """A feed item as a Post; ``None`` for an item without a date (it cannot be placed)."""
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
    author = str(entry.get("author") or username).strip().lstrip("@").split()[0:1]
    author_name = (author[0] if author else username).lower()[:15]
    return Post(
        external_id=post_id,
        author_username=author_name,
        text=_REPLY.sub("", _REPOST.sub("", text)),
        created_at=created_at,
        url=(link or f"https://x.com/{username}/status/{post_id}")[:300],
        is_repost=bool(_REPOST.match(title)),
        is_reply=bool(_REPLY.match(title)),
        raw={"title": title, "link": link, "guid": guid, "summary": summary},
    )


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
        if response.status_code == 404:
            raise AccountNotFound(f"no feed for @{account.username} (HTTP 404)")
        # feedparser is pure Python: parse off the event loop.
        entries = await asyncio.to_thread(
            parse_feed, response.content, url=url, content_type=response.headers.get("content-type")
        )
        floor = int(since_id) if since_id is not None else None
        posts: dict[str, Post] = {}
        dated = 0
        reached = False
        for entry in entries:
            post = entry_to_post(entry, username=account.username)
            if post is None:
                continue
            dated += 1
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
            requests=reply.attempts,
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
            rate_limit_remaining=reply.rate_limit.remaining,
            rate_limit_reset_at=reply.rate_limit.reset_at,
        )
