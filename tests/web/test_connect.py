from __future__ import annotations

from datetime import UTC, datetime

import httpx
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import make_user, signed_in
from tests.fakes.server import serve_app
from tests.sources.bluesky_fake import FakeBluesky
from tests.web.pages_helpers import text_of
from xtrack.config import Settings
from xtrack.db import Database
from xtrack.jobs import service as jobs_service
from xtrack.jobs.schemas import JobCreate
from xtrack.web.app import create_app


async def test_connect_page_names_the_variables_and_the_current_setup(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    await signed_in(client, session, user)
    page = await client.get("/connect")
    assert page.status_code == 200
    for variable in (
        "XTRACK_X_BEARER_TOKEN",
        "XTRACK_TWITTERAPI_KEY",
        "XTRACK_RSS_URL_TEMPLATE",
        "XTRACK_LLM_URL",
        "XTRACK_SMTP_URL",
        "xtrack doctor",
    ):
        assert variable in page.text
    assert "demo" in page.text and "extractive" in page.text


async def test_connect_page_needs_sign_in(client: httpx.AsyncClient) -> None:
    response = await client.get("/connect")
    assert response.status_code == 303 and response.headers["location"].startswith("/signin")


async def test_connect_page_shows_the_price_table_from_the_settings(
    db: Database, session: AsyncSession, settings: Settings
) -> None:
    priced = settings.model_copy(
        update={
            "x_price_per_post_usd": 0.007,
            "twitterapi_price_per_1000_posts_usd": 0.2,
            "llm_prices": "my-model=1.5/6",
            "llm_model": "my-model",
            "llm_min_posts": 4,
        }
    )
    user = await make_user(session)
    app = create_app(priced, database=db)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        await signed_in(client, session, user)
        text = text_of((await client.get("/connect")).text)
    assert "X API v2, per post read $0.007 XTRACK_X_PRICE_PER_POST_USD" in text
    assert "twitterapi.io, per 1,000 posts $0.2" in text
    assert "my-model in use $1.5 — $6" in text  # the configured entry, marked as the one in use
    assert "gpt-4o-mini $0.15 $0.075 $0.6" in text  # a built-in default
    assert "fewer than 4 new posts are summarized offline" in text


async def test_connect_page_checks_the_networks_the_viewers_jobs_follow(
    db: Database, session: AsyncSession, settings: Settings
) -> None:
    bluesky = FakeBluesky()
    bluesky.add_actor("carol.bsky.social")
    user = await make_user(session)
    data = JobCreate.model_validate({"accounts": ["alice", "carol.bsky.social"]})
    await jobs_service.create(session, owner=user, data=data, max_jobs=10, now=datetime.now(UTC))
    await session.commit()
    with serve_app(bluesky.app) as bsky_url:
        configured = settings.model_copy(
            update={"source": "x", "x_bearer_token": SecretStr("t"), "bluesky_api_url": bsky_url}
        )
        app = create_app(configured, database=db)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as client:
            await signed_in(client, session, user)
            text = text_of((await client.get("/connect")).text)
    assert (
        f"Networks your jobs follow Bluesky ({bsky_url}) : reachable (looked up @carol.bsky.social)" in text
    )
    assert "Mastodon (" not in text  # no job of this user follows a Mastodon account
    assert bluesky.count("getProfile") == 1
