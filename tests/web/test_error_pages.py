from __future__ import annotations

import httpx
from fastapi import APIRouter
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import make_user
from xtrack.config import Settings, get_settings
from xtrack.db import Database, utcnow
from xtrack.errors import NotFound
from xtrack.users.auth import SESSION_COOKIE, create_web_session
from xtrack.users.deps import CurrentUser
from xtrack.users.models import Theme
from xtrack.web.app import create_app


async def test_an_error_raised_after_sign_in_renders_the_page_for_that_user(
    db: Database, session: AsyncSession, settings: Settings
) -> None:
    """The route's session rolls back on the error; the 404 page must still know the viewer."""
    user = await make_user(session)
    user.theme = Theme.DARK.value
    cookie = await create_web_session(session, user=user, now=utcnow(), settings=get_settings())
    await session.commit()

    router = APIRouter()

    @router.get("/_test/owned-thing")
    async def owned_thing(viewer: CurrentUser) -> None:
        raise NotFound("No such job.")

    app = create_app(settings, database=db)
    app.include_router(router)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        client.cookies.set(SESSION_COOKIE, cookie)
        response = await client.get("/_test/owned-thing")
    assert response.status_code == 404
    assert "No such job." in response.text
    assert 'data-theme="dark"' in response.text  # rendered for the signed-in viewer


async def test_no_free_database_connection_is_a_503_to_retry_not_a_crash(
    db: Database, settings: Settings
) -> None:
    router = APIRouter()

    @router.get("/api/v1/_test/busy")
    async def busy() -> None:
        raise PoolTimeout("QueuePool limit of size 20 overflow 20 reached, connection timed out")

    app = create_app(settings, database=db)
    app.include_router(router)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/api/v1/_test/busy")
    assert response.status_code == 503 and response.headers["retry-after"] == "5"
    assert response.json() == {"detail": "The server is busy: try again in a few seconds."}
