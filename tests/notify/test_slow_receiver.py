"""A slow webhook gets each message once (issue 22, finding 11): apprise's own 4 s timeout made a
receiver slower than that get the message again on the retry; the send timeout and the outbox lease
are settings, and webhooks carry the delivery's id as an idempotency key."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.conftest import wait_until
from tests.fakes.server import serve_app
from tests.notify.conftest import NEXT_ROUND, T0, Pipeline
from xtrack.config import ConfigError, Settings, load_settings
from xtrack.notify import outbox, senders
from xtrack.notify.content import Message
from xtrack.notify.models import NotificationDelivery

ANSWER_AFTER_SECONDS = 5.0  # slower than apprise's default 4 s read timeout


@dataclass
class SlowReceiver:
    """Answers 200 after ``ANSWER_AFTER_SECONDS``; keeps the idempotency key of every request."""

    keys: list[str | None] = field(default_factory=list)
    base: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self) -> int:
        with self.lock:
            return len(self.keys)

    async def handle(self, request: Request) -> JSONResponse:
        await request.body()
        with self.lock:
            self.keys.append(request.headers.get("idempotency-key"))
        await asyncio.sleep(ANSWER_AFTER_SECONDS)
        return JSONResponse({"ok": True})


@pytest.fixture
def slow() -> Iterator[SlowReceiver]:
    receiver = SlowReceiver()
    app = Starlette(routes=[Route("/{path:path}", receiver.handle, methods=["POST"])])
    with serve_app(app) as base_url:
        receiver.base = base_url.removeprefix("http://")
        yield receiver


async def test_a_slow_webhook_gets_the_message_once_with_its_idempotency_key(
    pipeline: Pipeline, slow: SlowReceiver
) -> None:
    pipeline.settings = pipeline.settings.model_copy(
        update={"notify_timeout_seconds": 10.0, "notify_lease_seconds": 90.0}
    )
    user, job = await pipeline.user_and_job()
    hook = await pipeline.target(user, name="Slow", url=f"json://{slow.base}/hook")
    await pipeline.choose(user, job, [hook])
    pipeline.source.publish(T0 - timedelta(minutes=5), "#AI news")
    await pipeline.run_due()

    first = asyncio.create_task(outbox.deliver_due(pipeline.db, pipeline.settings, now=T0))

    async def in_flight() -> bool:
        return slow.count() == 1

    await wait_until(in_flight, timeout=10, what="the webhook to receive the message")
    async with pipeline.db.session() as session:
        [delivery] = list(await session.scalars(select(NotificationDelivery)))
    # The lease is the setting, and another sender finds nothing to claim while the send is in flight.
    assert delivery.claimed_until == T0 + timedelta(seconds=90)
    second = await outbox.deliver_due(pipeline.db, pipeline.settings, now=T0 + timedelta(seconds=60))
    assert second.claimed == 0

    result = await first
    assert result.sent == [delivery.id]
    later = await outbox.deliver_all_due(pipeline.db, pipeline.settings, now=T0 + NEXT_ROUND)
    assert later.claimed == 0
    assert slow.keys == [str(delivery.id)]


def test_the_lease_must_outlast_a_send(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    monkeypatch.setenv("XTRACK_NOTIFY_TIMEOUT_SECONDS", "30")
    monkeypatch.setenv("XTRACK_NOTIFY_LEASE_SECONDS", "100")
    with pytest.raises(ConfigError, match="XTRACK_NOTIFY_LEASE_SECONDS must be longer than 4 x"):
        load_settings()
    monkeypatch.setenv("XTRACK_NOTIFY_LEASE_SECONDS", "121")
    assert load_settings().notify_lease_seconds == 121


async def test_a_send_given_up_on_keeps_its_lease_until_it_cannot_be_in_flight(pipeline: Pipeline) -> None:
    # The outbox stops waiting after 4 x XTRACK_NOTIFY_TIMEOUT_SECONDS, but apprise's thread may still
    # be sending: the row is not handed out again before the lease says that send is over.
    pipeline.settings = pipeline.settings.model_copy(
        update={"notify_timeout_seconds": 0.05, "notify_lease_seconds": 600.0}
    )
    user, job = await pipeline.user_and_job()
    hook = await pipeline.target(user, name="Hook", url="json://127.0.0.1:9/never")
    await pipeline.choose(user, job, [hook])
    pipeline.source.publish(T0 - timedelta(minutes=5), "#AI news")
    await pipeline.run_due()

    async def stuck(settings: Settings, destination: senders.Destination, message: Message) -> None:
        await asyncio.sleep(5)

    result = await outbox.deliver_due(pipeline.db, pipeline.settings, now=T0, send=stuck)
    assert result.retrying and not result.sent
    # The back-off alone (at most minutes) would allow a retry here; the lease does not.
    during = await outbox.deliver_due(
        pipeline.db, pipeline.settings, now=T0 + timedelta(seconds=599), send=stuck
    )
    assert during.claimed == 0
    sent: list[int | None] = []

    async def ok(settings: Settings, destination: senders.Destination, message: Message) -> None:
        sent.append(destination.delivery_id)

    after = await outbox.deliver_due(pipeline.db, pipeline.settings, now=T0 + timedelta(seconds=601), send=ok)
    assert after.sent == result.retrying and sent == result.retrying
