"""`xtrack doctor` and the connect page: the open networks active jobs follow, one lookup each."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import make_user
from tests.fakes.server import serve_app
from tests.notify.test_outbound import resolving
from tests.sources.bluesky_fake import FakeBluesky
from xtrack import outbound
from xtrack.config import Settings
from xtrack.jobs import service as jobs_service
from xtrack.jobs.schemas import JobCreate
from xtrack.ops.networks import accounts_in_use, check_networks
from xtrack.sources.handles import Network


async def test_the_accounts_of_active_jobs_by_network(session: AsyncSession) -> None:
    owner = await make_user(session)
    now = datetime.now(UTC)
    for accounts in (["alice", "carol.bsky.social"], ["@bob@mastodon.social", "carol.bsky.social"]):
        data = JobCreate.model_validate({"accounts": accounts})
        await jobs_service.create(session, owner=owner, data=data, max_jobs=10, now=now)
    paused = await jobs_service.create(
        session,
        owner=owner,
        data=JobCreate.model_validate({"accounts": ["@eve@other.social"]}),
        max_jobs=10,
        now=now,
    )
    paused.is_active = False
    await session.flush()

    found = await accounts_in_use(session, user_id=owner.id)

    assert found == {Network.BLUESKY: ["carol.bsky.social"], Network.MASTODON: ["bob@mastodon.social"]}
    assert await accounts_in_use(session, user_id=owner.id + 1) == {}


async def test_each_network_in_use_is_looked_up_once_and_a_private_server_is_refused(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    bluesky = FakeBluesky()
    bluesky.add_actor("carol.bsky.social")
    monkeypatch.setattr(outbound, "resolve", resolving({"intranet.test": "10.0.0.5"}))
    with serve_app(bluesky.app) as bsky_url:
        configured = settings.model_copy(
            update={"source": "x", "bluesky_api_url": bsky_url, "outbound_allow_private": False}
        )
        lines = await check_networks(
            configured,
            {
                Network.BLUESKY: ["carol.bsky.social"],
                Network.MASTODON: ["bob@intranet.test", "eve@intranet.test"],
            },
        )
        demo = await check_networks(
            settings.model_copy(update={"source": "demo"}), {Network.BLUESKY: ["carol.bsky.social"]}
        )

    assert [(line.name, line.ok) for line in lines] == [
        (f"Bluesky ({bsky_url})", True),
        ("Mastodon (intranet.test)", False),  # one line per server
    ]
    assert bluesky.count("getProfile") == 1
    assert "private address" in lines[1].detail and "XTRACK_OUTBOUND_ALLOW_PRIVATE" in lines[1].hint
    assert demo == []  # the demo plays every network offline
