"""Atom feeds at private, revocable URLs; the summaries list with filters and keyset pagination."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import feedparser
import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import auth_headers, make_user, signed_in
from xtrack.jobs.models import Job
from xtrack.summaries.models import Summary
from xtrack.users import service as users_service
from xtrack.users.auth import hash_token
from xtrack.users.models import FeedToken, User

ATOM = "{http://www.w3.org/2005/Atom}"
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
HOSTILE = (
    "## Chips <script>alert('xss')</script> news\n\n"
    "- [click me](javascript:alert(1)) and <img src=x onerror=alert(2)>\n"
    '- <a href="https://evil.example" onclick="steal()">raw link</a>\n'
    "- a real [source](https://x.com/alice/status/1)\n"
)


async def _job(session: AsyncSession, owner: User, username: str = "alice") -> Job:
    job = Job(user_id=owner.id, x_username=username, frequency=60, topics=["AI", "chips"], next_run_at=T0)
    session.add(job)
    await session.flush()
    return job


async def _summary(
    session: AsyncSession,
    owner: User,
    job: Job | None,
    *,
    hours: int,
    content: str = "## Quiet day\n- nothing",
) -> Summary:
    summary = Summary(
        job_id=job.id if job else None,
        user_id=owner.id,
        is_playground=job is None,
        x_username=job.x_username if job else "carol",
        topics=["AI"],
        hours_back=None if job else 24,
        content=content,
        tweets_count=2,
        raw_data={"post_ids": ["1", "2"]},
        created_at=T0 + timedelta(hours=hours),
        model="extractive",
    )
    session.add(summary)
    await session.flush()
    return summary


async def _feed(client: httpx.AsyncClient, headers: dict[str, str], name: str = "reader") -> dict[str, Any]:
    response = await client.post("/api/v1/feeds", json={"name": name}, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


class _TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def _tags(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Every element a browser would build from ``html``, with its attributes."""
    collector = _TagCollector()
    collector.feed(html)
    return collector.tags


def _path(url: str) -> str:
    return url.removeprefix("http://127.0.0.1:8000")


async def test_feed_tokens_are_shown_once_and_stored_hashed(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await make_user(session)
    headers = await auth_headers(session, owner)
    created = await _feed(client, headers)
    token = created["token"]
    assert token.startswith("xf_") and len(token) > 40
    assert created["url"].endswith(f"/feeds/{token}.atom")
    assert created["job_url_template"].endswith(f"/feeds/{token}/jobs/{{job_id}}.atom")
    listed = (await client.get("/api/v1/feeds", headers=headers)).json()
    assert [feed["id"] for feed in listed] == [created["id"]]
    assert token not in str(listed) and listed[0]["prefix"] == token[:10]
    row = await session.scalar(select(FeedToken).where(FeedToken.id == created["id"]))
    assert row is not None and row.token_hash == hash_token(token) and token not in row.token_hash


async def test_user_feed_validates_and_its_content_is_inert(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await make_user(session)
    other = await make_user(session)
    job = await _job(session, owner)
    second = await _job(session, owner, "bob")
    hostile = await _summary(session, owner, job, hours=1, content=HOSTILE)
    calm = await _summary(session, owner, second, hours=2)
    await _summary(session, owner, None, hours=3)  # playground runs stay out of feeds
    await _summary(session, other, await _job(session, other), hours=4)
    await session.commit()
    feed = await _feed(client, await auth_headers(session, owner))

    response = await client.get(_path(feed["url"]))

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    assert response.headers["referrer-policy"] == "no-referrer"
    parsed = feedparser.parse(response.content, sanitize_html=False)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert [entry.link for entry in parsed.entries] == [
        f"http://127.0.0.1:8000/summaries/{calm.id}",
        f"http://127.0.0.1:8000/summaries/{hostile.id}",
    ]
    assert parsed.entries[1].title == "@alice: Chips alert('xss') news"  # plain text, no tags
    assert {tag.term for tag in parsed.entries[1].tags} == {"AI"}
    assert parsed.entries[1].updated_parsed[:5] == (2026, 11, 20, 9, 0)
    # The entry's HTML, exactly as sent (unescaped once from the XML): no live markup survives.
    entries = ET.fromstring(response.content).findall(f"{ATOM}entry")
    html = entries[1].findtext(f"{ATOM}content") or ""
    assert entries[1].find(f"{ATOM}content").get("type") == "html"  # type: ignore[union-attr]
    tags = _tags(html)
    assert {tag for tag, _ in tags} <= {"h2", "ul", "li", "a", "p"}  # no script, img, iframe...
    attributes = [(name, value or "") for _, attrs in tags for name, value in attrs]
    assert all(not name.startswith("on") for name, _ in attributes)  # no event handlers
    assert [value for name, value in attributes if name == "href"] == ["https://x.com/alice/status/1"]
    assert "&lt;script&gt;" in html  # shown as text, not run
    assert '<a href="https://x.com/alice/status/1" rel="nofollow noopener noreferrer">source</a>' in html
    assert feedparser.parse(response.content).entries[1].content[0].value  # also readable sanitized


async def test_job_feed_and_conditional_requests(client: httpx.AsyncClient, session: AsyncSession) -> None:
    owner = await make_user(session)
    job = await _job(session, owner)
    other_job = await _job(session, owner, "bob")
    mine = await _summary(session, owner, job, hours=1)
    await _summary(session, owner, other_job, hours=2)
    await session.commit()
    feed = await _feed(client, await auth_headers(session, owner))
    url = _path(feed["job_url_template"].replace("{job_id}", str(job.id)))

    response = await client.get(url)

    assert response.status_code == 200
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo and parsed.feed.title == "XTrack: @alice (AI, chips)"
    assert [entry.link.rsplit("/", 1)[-1] for entry in parsed.entries] == [str(mine.id)]
    again = await client.get(url, headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    await _summary(session, owner, job, hours=3)
    await session.commit()
    changed = await client.get(url, headers={"If-None-Match": response.headers["etag"]})
    assert changed.status_code == 200 and len(feedparser.parse(changed.content).entries) == 2


async def test_unknown_revoked_or_foreign_feeds_are_404(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await make_user(session)
    other = await make_user(session)
    other_job = await _job(session, other)
    await _summary(session, owner, await _job(session, owner), hours=1)
    await session.commit()
    headers = await auth_headers(session, owner)
    feed = await _feed(client, headers)
    token = feed["token"]
    assert (await client.get(f"/feeds/{token}.atom")).status_code == 200

    assert (await client.get(f"/feeds/{token}x.atom")).status_code == 404
    assert (await client.get("/feeds/xf_not-a-real-token-at-all-0123456789.atom")).status_code == 404
    assert (await client.get("/feeds/anything.atom")).status_code == 404
    assert (await client.get(f"/feeds/{token}/jobs/{other_job.id}.atom")).status_code == 404
    assert (await client.get(f"/feeds/{token}/jobs/999999.atom")).status_code == 404
    # Someone else cannot revoke it; its owner can, and then it is gone.
    other_headers = await auth_headers(session, other)
    assert (await client.delete(f"/api/v1/feeds/{feed['id']}", headers=other_headers)).status_code == 404
    assert (await client.delete(f"/api/v1/feeds/{feed['id']}", headers=headers)).status_code == 204
    assert (await client.get(f"/feeds/{token}.atom")).status_code == 404
    assert (await client.get("/api/v1/feeds", headers=headers)).json() == []


async def test_a_suspended_owners_feed_is_404(client: httpx.AsyncClient, session: AsyncSession) -> None:
    owner = await make_user(session)
    feed = await _feed(client, await auth_headers(session, owner))
    assert (await client.get(f"/feeds/{feed['token']}.atom")).status_code == 200
    await users_service.suspend(session, user=owner)
    await session.commit()
    assert (await client.get(f"/feeds/{feed['token']}.atom")).status_code == 404


async def test_summaries_list_filters_and_pages(client: httpx.AsyncClient, session: AsyncSession) -> None:
    owner = await make_user(session)
    other = await make_user(session)
    job = await _job(session, owner)
    second = await _job(session, owner, "bob")
    s1 = await _summary(session, owner, job, hours=1)
    s2 = await _summary(session, owner, second, hours=2)
    s3 = await _summary(session, owner, None, hours=3)
    s4 = await _summary(session, owner, job, hours=4)
    await _summary(session, other, await _job(session, other), hours=5)
    await session.commit()
    headers = await auth_headers(session, owner)

    async def ids(**params: Any) -> tuple[list[int], int | None]:
        response = await client.get("/api/v1/summaries", params=params, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        return [item["id"] for item in body["items"]], body["next_before"]

    assert await ids() == ([s4.id, s3.id, s2.id, s1.id], None)
    assert await ids(job_id=job.id) == ([s4.id, s1.id], None)
    assert await ids(playground="true") == ([s3.id], None)
    assert await ids(playground="false") == ([s4.id, s2.id, s1.id], None)
    assert await ids(since=(T0 + timedelta(hours=2)).isoformat()) == ([s4.id, s3.id, s2.id], None)
    assert await ids(since="2026-11-20T10:00:00") == ([s4.id, s3.id, s2.id], None)  # bare = UTC
    first, cursor = await ids(limit=3)
    assert first == [s4.id, s3.id, s2.id] and cursor == s2.id
    assert await ids(limit=3, before=cursor) == ([s1.id], None)
    bad = await client.get("/api/v1/summaries", params={"limit": 0}, headers=headers)
    assert bad.status_code == 422


async def test_entry_titles_name_the_account_once(client: httpx.AsyncClient, session: AsyncSession) -> None:
    owner = await make_user(session)
    job = await _job(session, owner)
    english = await _summary(session, owner, job, hours=1, content="## @alice: 103 new posts\n- x")
    english.raw_data = {"post_ids": [], "headline": "@alice: 103 new posts"}
    german = await _summary(session, owner, job, hours=2, content="## @alice · Neue Beiträge: 3\n- x")
    german.raw_data = {"post_ids": [], "headline": "@alice · Neue Beiträge: 3"}
    await _summary(session, owner, job, hours=3, content="## Quiet day\n- nothing")  # an LLM's headline
    await session.commit()
    feed = await _feed(client, await auth_headers(session, owner))

    parsed = feedparser.parse((await client.get(_path(feed["url"]))).content)

    assert [entry.title for entry in parsed.entries] == [
        "@alice: Quiet day",
        "@alice · Neue Beiträge: 3",
        "@alice: 103 new posts",
    ]


async def test_feeds_answer_head_and_their_errors_are_the_declared_html(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await make_user(session)
    job = await _job(session, owner)
    await _summary(session, owner, job, hours=1)
    await session.commit()
    feed = await _feed(client, await auth_headers(session, owner))
    for url in (_path(feed["url"]), _path(feed["job_url_template"].replace("{job_id}", str(job.id)))):
        get = await client.get(url)
        head = await client.head(url)
        assert head.status_code == 200 and head.content == b"", url
        assert head.headers["etag"] == get.headers["etag"]
        assert head.headers["content-type"] == get.headers["content-type"]
        assert head.headers["content-length"] == str(len(get.content))
        assert (await client.head(url, headers={"If-None-Match": get.headers["etag"]})).status_code == 304
    assert (await client.head("/feeds/xf_revoked-or-never-made-0123456789.atom")).status_code == 404
    # What the schema declares for the feed paths' errors: HTML pages, as a browser opening the URL sees.
    for url, status in ((f"/feeds/{feed['token']}/jobs/abc.atom", 422), ("/feeds/nothing.atom", 404)):
        response = await client.get(url)
        assert response.status_code == status and response.headers["content-type"].startswith("text/html")


def _alternate_links(html: str) -> list[str]:
    return [
        dict(attrs).get("href") or ""
        for tag, attrs in _tags(html)
        if tag == "link"
        and dict(attrs).get("rel") == "alternate"
        and dict(attrs).get("type") == "application/atom+xml"
    ]


async def test_the_account_page_makes_shows_and_revokes_feeds_and_pages_link_them(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await make_user(session)
    job = await _job(session, owner)
    summary = await _summary(session, owner, job, hours=1)
    # A feed from before addresses could be shown again: listed by its prefix only.
    session.add(
        FeedToken(
            user_id=owner.id, name="old", token_hash=hash_token("xf_old"), prefix="xf_old", created_at=T0
        )
    )
    await session.commit()
    csrf = await signed_in(client, session, owner)
    page = await client.get(f"/jobs/{job.id}")
    assert _alternate_links(page.text) == []  # no feed the page can show yet

    created = await client.post("/account/feeds", data={"csrf_token": csrf, "name": "phone reader"})
    assert created.status_code == 303
    account = await client.get("/account")
    inputs = [
        dict(attrs)
        for tag, attrs in _tags(account.text)
        if tag == "input" and "feed-url" in (dict(attrs).get("class") or "")
    ]
    [address] = [field["value"] or "" for field in inputs]
    assert address.startswith("http://127.0.0.1:8000/feeds/xf_") and "phone reader" in account.text
    assert "shown once when it was created" in account.text  # the old one
    feed = feedparser.parse((await client.get(_path(address))).content)
    assert not feed.bozo and [entry.link for entry in feed.entries] == [
        f"http://127.0.0.1:8000/summaries/{summary.id}"
    ]

    job_feed = address.replace(".atom", f"/jobs/{job.id}.atom")
    assert _alternate_links((await client.get(f"/jobs/{job.id}")).text) == [job_feed]
    assert _alternate_links((await client.get(f"/summaries/{summary.id}")).text) == [job_feed]
    assert not feedparser.parse((await client.get(_path(job_feed))).content).bozo

    [row] = (await session.scalars(select(FeedToken).where(FeedToken.name == "phone reader"))).all()
    assert row.token_hash != address and address.split("/")[-1].removesuffix(".atom") not in row.token_hash
    revoked = await client.post(f"/account/feeds/{row.id}/revoke", data={"csrf_token": csrf})
    assert revoked.status_code == 303
    assert (await client.get(_path(address))).status_code == 404
    assert _alternate_links((await client.get(f"/jobs/{job.id}")).text) == []
