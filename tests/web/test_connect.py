from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import make_user, signed_in


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
