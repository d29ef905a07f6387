"""An account's identity is looked up once and kept; a source that can read posts by username
(twitterapi.io's search) does not wait for that lookup before its first fetch."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.fakes.server import serve_app
from tests.posts.helpers import LEASE_SECONDS, account_row, stored_count
from tests.sources.fakes import FakeTwitterApi
from xtrack.db import Database
from xtrack.posts import refresh
from xtrack.sources.base import AccountNotFound
from xtrack.sources.twitterapi import TwitterApiSource

NOW = datetime.now(UTC).replace(microsecond=0)
DAY_AGO = NOW - timedelta(hours=24)


class LookupAfterSearch(FakeTwitterApi):
    """Answers ``user/info`` only once a search has arrived: a client that waits for the lookup
    before searching gets a 503 after 3 s instead of an answer."""

    async def user_info(self, request: Request) -> Response:
        for _ in range(300):
            if self.count("advanced_search"):
                return await super().user_info(request)
            await asyncio.sleep(0.01)
        return JSONResponse({"detail": "the search never came"}, 503)


@pytest.fixture
def gated() -> Iterator[tuple[LookupAfterSearch, str]]:
    fake = LookupAfterSearch()
    with serve_app(fake.app) as base_url:
        yield fake, base_url


@pytest.fixture
async def source(gated: tuple[LookupAfterSearch, str]) -> AsyncIterator[TwitterApiSource]:
    _fake, base_url = gated
    client = TwitterApiSource(
        base_url=base_url,
        api_key="good-key",
        public_url="http://xtrack.test",
        timeout=5.0,
        max_retries=0,
        retry_base_seconds=0.01,
    )
    yield client
    await client.aclose()


async def refresh_alice(
    db: Database, source: TwitterApiSource, username: str = "alice"
) -> refresh.AccountSnapshot:
    return await refresh.refresh_account(
        db,
        source,
        username=username,
        need_since=DAY_AGO,
        requested_at=datetime.now(UTC),
        lease_seconds=LEASE_SECONDS,
    )


async def test_a_new_account_is_searched_beside_its_lookup_and_looked_up_only_once(
    db: Database,
    session: AsyncSession,
    gated: tuple[LookupAfterSearch, str],
    source: TwitterApiSource,
) -> None:
    fake, _ = gated
    user = fake.add_user("alice")
    fake.add_posts(user, 6, start=NOW - timedelta(hours=2))

    first = await refresh_alice(db, source)

    assert first.external_id == user.id and first.display_name == "Alice"
    assert first.posts_stored == 6 and first.requests_made == 2  # the search and the lookup
    assert await stored_count(session, first.account_id) == 6
    assert (await account_row(session, first.account_id)).external_id == user.id

    fake.add_posts(user, 2, start=NOW - timedelta(minutes=5))
    second = await refresh_alice(db, source)

    assert second.posts_stored == 2 and second.requests_made == 1  # the identity was kept
    assert fake.count("user/info") == 1 and fake.count("advanced_search") == 2


async def test_an_account_the_lookup_does_not_find_fails_the_refresh_though_the_search_answered(
    db: Database, session: AsyncSession, gated: tuple[LookupAfterSearch, str], source: TwitterApiSource
) -> None:
    fake, _ = gated

    with pytest.raises(AccountNotFound):
        await refresh_alice(db, source, username="nobody")

    assert fake.count("advanced_search") == 1 and fake.count("user/info") == 1
