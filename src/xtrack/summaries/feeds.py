"""Atom feeds of summaries at private, revocable addresses.

A user creates feed tokens (``POST /api/v1/feeds`` or the Account page); the database keeps only a
SHA-256 hash of each. A token is an HMAC of its row's id under the secret key, so the pages can
show its address again (the Account page, and the ``rel="alternate"`` link in the head of job and
summary pages, where feed readers look) without storing it; revoking deletes the row.

``/feeds/{token}.atom`` is the user's feed (summaries of their jobs, newest first);
``/feeds/{token}/jobs/{job_id}.atom`` is one job's. An unknown or revoked token, a suspended
owner, or another user's job is a 404: a feed address reveals nothing unless it is valid.

Entry content is the summary rendered by ``render_markdown`` (sanitized HTML, the same as the
pages), sent as escaped ``type="html"`` text.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xtrack.errors import NotFound
from xtrack.jobs.models import Job
from xtrack.summaries import service as summaries_service
from xtrack.summaries.models import Summary
from xtrack.summarize.llm import headline_of
from xtrack.summarize.rendering import render_markdown
from xtrack.users.auth import hash_token, new_token
from xtrack.users.models import FeedToken, User, UserStatus

FEED_TOKEN_PREFIX = "xf_"
FEED_ENTRIES = 50
LAST_USED_WRITE_INTERVAL = timedelta(hours=1)
ATOM_NS = "http://www.w3.org/2005/Atom"
ATOM_MEDIA_TYPE = "application/atom+xml; charset=utf-8"
TAG_DATE = "2024"
_TAG = re.compile(r"<[^>]*>")


def feed_url(base_url: str, token: str, *, job_id: int | None = None) -> str:
    if job_id is None:
        return f"{base_url}/feeds/{token}.atom"
    return f"{base_url}/feeds/{token}/jobs/{job_id}.atom"


# Tokens -------------------------------------------------------------------------------------------


def derived_token(signing_key: str, feed_id: int) -> str:
    """The plain token of feed ``feed_id``: unguessable without the secret key, computable with it."""
    digest = hmac.new(signing_key.encode(), f"xtrack.feed:{feed_id}".encode(), hashlib.sha256).digest()
    return FEED_TOKEN_PREFIX + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def address_token(token: FeedToken, signing_key: str) -> str | None:
    """The plain token of ``token`` if the pages can show it (made under this secret key; tokens
    from before derived tokens, or from another key, were shown once only)."""
    plain = derived_token(signing_key, token.id)
    return plain if hmac.compare_digest(hash_token(plain), token.token_hash) else None


async def create_token(
    session: AsyncSession, *, user: User, name: str, signing_key: str, now: datetime
) -> tuple[FeedToken, str]:
    """A new feed token and its plain value (derived from the row's id, so never stored)."""
    token = FeedToken(
        user_id=user.id,
        name=name.strip() or "feed",
        token_hash=hash_token(new_token(FEED_TOKEN_PREFIX)),  # replaced once the id is known
        prefix="",
        created_at=now,
    )
    session.add(token)
    await session.flush()
    plain = derived_token(signing_key, token.id)
    token.token_hash, token.prefix = hash_token(plain), plain[:10]
    await session.flush()
    return token, plain


async def page_feed_url(
    session: AsyncSession, *, user_id: int, signing_key: str, base_url: str, job_id: int | None = None
) -> str | None:
    """The address of the user's newest feed the pages can show (or of one job's feed under it);
    None when they have none."""
    for token in reversed(await list_tokens(session, user_id=user_id)):
        plain = address_token(token, signing_key)
        if plain is not None:
            return feed_url(base_url, plain, job_id=job_id)
    return None


async def list_tokens(session: AsyncSession, *, user_id: int) -> list[FeedToken]:
    return list(
        (
            await session.scalars(
                select(FeedToken).where(FeedToken.user_id == user_id).order_by(FeedToken.id)
            )
        ).all()
    )


async def revoke(session: AsyncSession, *, user_id: int, feed_id: int) -> None:
    """Delete the user's feed token: its addresses are a 404 from now on."""
    token = await session.scalar(
        select(FeedToken).where(FeedToken.id == feed_id, FeedToken.user_id == user_id)
    )
    if token is None:
        raise NotFound("Feed not found.")
    await session.delete(token)
    await session.flush()


async def owner_of(session: AsyncSession, plain: str, *, now: datetime) -> User:
    """The user a feed token belongs to; NotFound for an unknown or revoked token or a suspended owner."""
    if not plain.startswith(FEED_TOKEN_PREFIX) or len(plain) > 100:
        raise NotFound("Not Found")
    row = (
        await session.execute(
            select(FeedToken, User)
            .join(User, User.id == FeedToken.user_id)
            .where(FeedToken.token_hash == hash_token(plain))
        )
    ).first()
    if row is None or row[1].status == UserStatus.SUSPENDED.value:
        raise NotFound("Not Found")
    token, user = row
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_WRITE_INTERVAL:
        token.last_used_at = now  # at most one write an hour per token
    return user


# The feed -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Feed:
    body: bytes
    etag: str


def _tag(base_url: str, *parts: object) -> str:
    host = urlsplit(base_url).hostname or "localhost"
    return f"tag:{host},{TAG_DATE}:xtrack:" + ":".join(str(part) for part in parts)


def _time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def entry_title(summary: Summary) -> str:
    raw = summary.raw_data or {}
    headline = raw.get("headline") if isinstance(raw.get("headline"), str) else None
    headline = (headline or headline_of(summary.content) or "Summary").strip()
    who = summary.who
    if len(summary.accounts) > 1 and headline.startswith("Briefing"):
        who = headline  # the headline already says it is a briefing; the accounts follow below
    # The offline summarizer's headline already starts with the handle; an LLM's need not.
    title = headline if headline.casefold().startswith(who.casefold()) else f"{who}: {headline}"
    # A plain-text title; tags dropped too, for feed readers that render titles as HTML anyway.
    return " ".join(_TAG.sub(" ", title).split())[:300]


def render_atom(
    summaries: Sequence[Summary],
    *,
    base_url: str,
    feed_id: str,
    title: str,
    self_url: str,
    alternate_url: str,
    now: datetime,
) -> bytes:
    """An Atom 1.0 document (RFC 4287) of ``summaries``, newest first."""
    ET.register_namespace("", ATOM_NS)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attributes)
        if text is not None:
            element.text = text
        return element

    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    sub(feed, "id", feed_id)
    sub(feed, "title", title)
    sub(feed, "updated", _time(summaries[0].created_at if summaries else now))
    sub(feed, "link", rel="self", type="application/atom+xml", href=self_url)
    sub(feed, "link", rel="alternate", type="text/html", href=alternate_url)
    author = sub(feed, "author")
    sub(author, "name", "XTrack")
    sub(feed, "generator", "XTrack")
    for summary in summaries:
        entry = sub(feed, "entry")
        sub(entry, "id", _tag(base_url, "summary", summary.id))
        sub(entry, "title", entry_title(summary))
        sub(entry, "updated", _time(summary.created_at))
        sub(entry, "published", _time(summary.created_at))
        sub(entry, "link", rel="alternate", type="text/html", href=f"{base_url}/summaries/{summary.id}")
        for topic in summary.topics or []:
            sub(entry, "category", term=str(topic))
        sub(entry, "content", str(render_markdown(summary.content)), type="html")
    document: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + document


def _etag(kind: str, key: object, summaries: Sequence[Summary]) -> str:
    digest = hashlib.sha256(f"{kind}:{key}:{[s.id for s in summaries]}".encode()).hexdigest()[:32]
    return f'W/"{digest}"'


async def user_feed(
    session: AsyncSession, *, token: str, base_url: str, now: datetime, limit: int = FEED_ENTRIES
) -> Feed:
    """The token owner's feed: summaries of their jobs (playground runs are not in feeds)."""
    user = await owner_of(session, token, now=now)
    page = await summaries_service.list_for_owner(
        session, owner_id=user.id, filters=summaries_service.SummaryFilters(playground=False), limit=limit
    )
    body = render_atom(
        page.items,
        base_url=base_url,
        feed_id=_tag(base_url, "feed", "user", user.id),
        title="XTrack: your summaries",
        self_url=feed_url(base_url, token),
        alternate_url=f"{base_url}/",
        now=now,
    )
    return Feed(body=body, etag=_etag("user", user.id, page.items))


async def job_feed(
    session: AsyncSession, *, token: str, job_id: int, base_url: str, now: datetime, limit: int = FEED_ENTRIES
) -> Feed:
    """One job's feed; NotFound when the job is not the token owner's."""
    user = await owner_of(session, token, now=now)
    job = await session.scalar(select(Job).where(Job.id == job_id, Job.user_id == user.id))
    if job is None:
        raise NotFound("Not Found")
    page = await summaries_service.list_for_owner(
        session, owner_id=user.id, filters=summaries_service.SummaryFilters(job_id=job.id), limit=limit
    )
    topics = ", ".join(job.topics or [])
    body = render_atom(
        page.items,
        base_url=base_url,
        feed_id=_tag(base_url, "feed", "job", job.id),
        title=f"XTrack: @{job.x_username}" + (f" ({topics})" if topics else ""),
        self_url=feed_url(base_url, token, job_id=job.id),
        alternate_url=f"{base_url}/jobs/{job.id}",
        now=now,
    )
    return Feed(body=body, etag=_etag("job", job.id, page.items))
