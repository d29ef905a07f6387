"""Fixtures for the notification tests: a real SMTP server (from the users tests), a local HTTP sink
that apprise's JSON webhook (``json://127.0.0.1:port/...``) posts to, a committed database for the
sender (it opens concurrent units of work), and a runner harness with a clock and a scripted source."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.conftest import fresh_database_url, make_job, make_user
from tests.executions.fakes import Clock, FakeSource
from tests.fakes.server import serve_app
from tests.fakes.smtp import Inbox
from xtrack import migrate
from xtrack.config import Settings, get_settings, set_settings
from xtrack.db import Base, Database, create_engine
from xtrack.executions import dispatcher
from xtrack.executions.heartbeat import Heartbeats
from xtrack.executions.runner import run_execution
from xtrack.jobs.models import Job
from xtrack.notify import outbox
from xtrack.notify import targets as notify_targets
from xtrack.notify.models import NotificationTarget
from xtrack.notify.outbox import RunNotifications
from xtrack.notify.schemas import JobTargetsUpdate, TargetCreate
from xtrack.summarize.base import Summarizer
from xtrack.users.models import User

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
# Later than any back-off (an hour at most): every round after a failure finds the row due again.
NEXT_ROUND = timedelta(hours=2)


@dataclass
class Sink:
    """A webhook receiver: answers each path with its scripted statuses (then 200) and keeps every
    request it was sent, and separately the ones it accepted."""

    scripts: dict[str, list[int]] = field(default_factory=dict)
    always: dict[str, int] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    accepted: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    base: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        """The apprise URL of ``path`` on this sink."""
        return f"json://{self.base}/{path}"

    def got(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [body for p, body in self.accepted if p == path]

    def tried(self, path: str) -> int:
        with self.lock:
            return sum(1 for p, _ in self.requests if p == path)

    async def handle(self, request: Request) -> JSONResponse:
        path = request.path_params["path"]
        body = await request.json()
        with self.lock:
            self.requests.append((path, body))
            script = self.scripts.get(path)
            status = self.always.get(path) or (script.pop(0) if script else 200)
            if status < 300:
                self.accepted.append((path, body))
        return JSONResponse({"ok": status < 300}, status_code=status)


@pytest.fixture
def sink() -> Iterator[Sink]:
    receiver = Sink()
    app = Starlette(routes=[Route("/{path:path}", receiver.handle, methods=["POST"])])
    with serve_app(app) as base_url:
        receiver.base = base_url.removeprefix("http://")
        yield receiver


@pytest.fixture
def mail_settings(smtp_server: tuple[Inbox, str], settings: Settings) -> Iterator[Settings]:
    """The test settings sending mail to the local SMTP server, with a public base URL."""
    _inbox, url = smtp_server
    changed = settings.model_copy(
        update={
            "smtp_url": url,
            "email_from": "XTrack <noreply@xtrack.test>",
            "base_url": "https://xtrack.test",
        }
    )
    set_settings(changed)
    try:
        yield changed
    finally:
        set_settings(settings)


@pytest.fixture
def inbox(smtp_server: tuple[Inbox, str]) -> Inbox:
    return smtp_server[0]


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def committed_url(request: pytest.FixtureRequest) -> str:
    """A migrated database whose writes really commit (the sender runs units of work concurrently,
    which one rolled-back outer transaction cannot hold); emptied before each test by ``live_db``."""
    url = fresh_database_url(request.param, "notify")
    migrate.upgrade(url)
    return url


@pytest.fixture
async def live_db(committed_url: str) -> AsyncIterator[Database]:
    database = Database(create_engine(committed_url, pool_size=5))
    async with database.session() as session:  # the dispatcher and the sender see every row
        for table in reversed(Base.metadata.sorted_tables):
            await session.execute(table.delete())
    try:
        yield database
    finally:
        await database.dispose()


class Pipeline:
    """The real runner and the real sender against ``live_db``: a clock the test moves, a source
    the test publishes to (or makes fail), and notification targets built through the service."""

    def __init__(self, database: Database, settings: Settings, clock: Clock, source: FakeSource) -> None:
        self.db = database
        self.settings = settings
        self.clock = clock
        self.source = source
        self.heartbeats = Heartbeats(auto_start=False)

    async def user_and_job(self, **job: Any) -> tuple[User, Job]:
        async with self.db.session() as session:
            user = await make_user(session)
            created = await make_job(session, owner=user, now=self.clock(), **job)
        return user, created

    async def target(self, user: User, *, name: str, url: str | None = None) -> NotificationTarget:
        """An apprise target for ``url``, or the user's email target when ``url`` is None."""
        data = (
            TargetCreate(kind="email", name=name)
            if url is None
            else TargetCreate(kind="apprise", name=name, url=url)
        )
        async with self.db.session() as session:
            return await notify_targets.create_target(
                session, user=user, data=data, settings=self.settings, now=self.clock()
            )

    async def choose(self, user: User, job: Job, targets: list[NotificationTarget], **options: Any) -> None:
        data = JobTargetsUpdate(target_ids=[t.id for t in targets], **options)
        async with self.db.session() as session:
            await notify_targets.set_job_targets(
                session, user=user, job_id=job.id, data=data, now=self.clock()
            )

    async def run_due(self, summarizer: Summarizer | None = None) -> list[int]:
        """One dispatcher tick at the clock's time, then each execution through the runner."""
        ids = (await dispatcher.tick(self.db, now=self.clock())).dispatched
        for execution_id in ids:
            await run_execution(
                execution_id,
                now=self.clock,
                database=self.db,
                settings=self.settings,
                source=self.source,
                summarizer=summarizer,
                heartbeats=self.heartbeats,
                hooks=RunNotifications(self.settings),
            )
        return ids

    async def deliver(self) -> outbox.Round:
        return await outbox.deliver_all_due(self.db, self.settings, now=self.clock())


@pytest.fixture
def pipeline(live_db: Database, mail_settings: Settings) -> Pipeline:
    clock = Clock(T0)
    assert get_settings() is mail_settings
    return Pipeline(live_db, mail_settings, clock, FakeSource(clock))
