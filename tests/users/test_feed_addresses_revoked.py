"""Finding 9: a feed address is a credential. A password reset and a suspension delete it with the
sessions and API tokens, so it neither outlives the reset nor comes back when the suspension is lifted."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import make_user
from xtrack.config import get_settings
from xtrack.db import utcnow
from xtrack.summaries import feeds
from xtrack.users import email_links, service
from xtrack.users.models import EmailTokenPurpose, User


async def _feed(session: AsyncSession, user: User) -> str:
    _token, plain = await feeds.create_token(
        session, user=user, name="reader", signing_key=get_settings().signing_key(), now=utcnow()
    )
    await session.commit()
    return f"/feeds/{plain}.atom"


async def test_a_lifted_suspension_does_not_bring_feed_addresses_back(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    feed = await _feed(session, user)
    assert (await client.get(feed)).status_code == 200

    await service.suspend(session, user=user)
    await session.commit()
    await service.activate(session, user=user)
    await session.commit()

    assert (await client.get(feed)).status_code == 404
    assert await feeds.list_tokens(session, user_id=user.id) == []


async def test_a_password_reset_revokes_feed_addresses(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    feed = await _feed(session, user)
    now = utcnow()
    link = await email_links.issue_email_token(session, user=user, purpose=EmailTokenPurpose.RESET, now=now)
    await service.reset_password(
        session, token=link, password="a brand new password", now=now, settings=get_settings()
    )
    await session.commit()
    assert (await client.get(feed)).status_code == 404
