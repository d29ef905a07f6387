"""The outbox end to end: the real runner writes deliveries with the run, the real sender delivers
them to a local SMTP server and, through apprise's JSON webhook, to a local HTTP sink."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from email.message import EmailMessage
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import auth_headers, make_job
from tests.fakes.smtp import Inbox
from tests.notify.conftest import NEXT_ROUND, T0, Pipeline, Sink
from tests.ops.conftest import Scrape
from tests.users.conftest import csrf_of
from xtrack.db import Database, utcnow
from xtrack.executions.models import ExecutionStatus, JobExecution
from xtrack.jobs.models import Job
from xtrack.notify import outbox
from xtrack.notify import targets as notify_targets
from xtrack.notify.models import DeliveryKind, DeliveryStatus, NotificationDelivery
from xtrack.notify.schemas import TargetUpdate
from xtrack.ops import gauges
from xtrack.sources.base import AccountNotFound
from xtrack.users.models import User, UserStatus
from xtrack.web.app import create_app


async def _deliveries(
    database: Database, job: Job, kind: DeliveryKind | None = None
) -> list[NotificationDelivery]:
    async with database.session() as session:
        query = select(NotificationDelivery).where(NotificationDelivery.job_id == job.id)
        if kind is not None:
            query = query.where(NotificationDelivery.kind == kind.value)
        return list(await session.scalars(query.order_by(NotificationDelivery.id)))


async def _executions(database: Database, job: Job) -> list[JobExecution]:
    async with database.session() as session:
        query = select(JobExecution).where(JobExecution.job_id == job.id).order_by(JobExecution.id)
        return list(await session.scalars(query))


def _plain(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def _html(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


async def _delivery_counts() -> dict[str, float]:
    scrape = Scrape((await gauges.render(None, now=utcnow())).decode())
    return {
        status: scrape.value("xtrack_notification_deliveries_total", status=status)
        for status in ("SENT", "RETRYING", "FAILED")
    }


@pytest.fixture
async def api(pipeline: Pipeline) -> AsyncIterator[httpx.AsyncClient]:
    """The app on the pipeline's database, over ASGI."""
    app = create_app(pipeline.settings, database=pipeline.db)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=pipeline.settings.base_url
    ) as http:
        yield http


async def _headers(pipeline: Pipeline, user: User) -> dict[str, str]:
    async with pipeline.db.session() as session:
        return await auth_headers(session, user)


async def test_a_sink_failing_twice_gets_the_summary_once_after_three_attempts(
    pipeline: Pipeline, sink: Sink, inbox: Inbox, api: httpx.AsyncClient
) -> None:
    user, job = await pipeline.user_and_job(topics=["ai"])
    hook = await pipeline.target(user, name="Team hook", url=sink.url("flaky"))
    email = await pipeline.target(user, name="My inbox")
    await pipeline.choose(user, job, [hook, email])
    sink.scripts["flaky"] = [500, 500]
    posts = [pipeline.source.publish(T0 - timedelta(hours=h), f"#AI chips news {h}") for h in (3, 2, 1)]

    [execution_id] = await pipeline.run_due()
    [execution] = await _executions(pipeline.db, job)
    assert execution.status == ExecutionStatus.COMPLETED.value and execution.tweets_fetched == 3
    # Written with the run, before anything was sent: one PENDING row per target.
    pending = await _deliveries(pipeline.db, job)
    assert [(d.target_id, d.kind, d.status) for d in pending] == [
        (hook.id, "summary", "PENDING"),
        (email.id, "summary", "PENDING"),
    ]
    assert all(d.execution_id == execution_id and d.summary_id is not None for d in pending)

    before = await _delivery_counts()
    first = await pipeline.deliver()
    assert sink.tried("flaky") == 1 and sink.got("flaky") == []
    [mail] = inbox.to(user.email)  # the other target is not held up by the failing one
    by_target = {d.target_id: d for d in await _deliveries(pipeline.db, job)}
    assert by_target[email.id].id in first.sent and by_target[email.id].status == "SENT"
    assert by_target[hook.id].id in first.retrying
    assert by_target[hook.id].status == "PENDING" and by_target[hook.id].attempts == 1
    assert by_target[hook.id].last_error and "500" in by_target[hook.id].last_error
    assert by_target[hook.id].next_attempt_at > T0  # backed off, not retried in the same round

    # Not due yet: a round a moment later sends nothing.
    pipeline.clock.advance(timedelta(seconds=1))
    await pipeline.deliver()
    assert sink.tried("flaky") == 1

    for _ in range(2):
        pipeline.clock.advance(NEXT_ROUND)
        await pipeline.deliver()
    assert sink.tried("flaky") == 3
    [received] = sink.got("flaky")
    assert received["title"].startswith("[XTrack] @alice: ")
    summary_id = by_target[hook.id].summary_id
    assert f"[Read it on XTrack](https://xtrack.test/summaries/{summary_id})" in received["message"]
    assert any(post.url in received["message"] for post in posts)  # the bullets link their posts

    after = await _delivery_counts()
    assert {status: after[status] - before[status] for status in after} == {
        "SENT": 2,
        "RETRYING": 2,
        "FAILED": 0,
    }

    # Delivered is delivered: later rounds never send it again.
    for _ in range(3):
        pipeline.clock.advance(NEXT_ROUND)
        await pipeline.deliver()
    assert sink.tried("flaky") == 3 and len(inbox.to(user.email)) == 1

    response = await api.get(f"/api/v1/jobs/{job.id}/deliveries", headers=await _headers(pipeline, user))
    assert response.status_code == 200, response.text
    rows = {row["target_name"]: row for row in response.json()["items"]}
    assert rows["Team hook"]["status"] == "SENT" and rows["Team hook"]["attempts"] == 3
    assert rows["Team hook"]["sent_at"] is not None and rows["Team hook"]["last_error"] is None
    assert rows["My inbox"]["status"] == "SENT" and rows["My inbox"]["attempts"] == 1
    assert mail["Subject"] == received["title"]


async def test_a_sink_that_is_always_down_fails_after_five_attempts_while_email_delivers(
    pipeline: Pipeline, sink: Sink, inbox: Inbox
) -> None:
    assert pipeline.settings.notify_max_attempts == 5
    user, job = await pipeline.user_and_job()
    hook = await pipeline.target(user, name="Down hook", url=sink.url("down"))
    email = await pipeline.target(user, name="My inbox")
    await pipeline.choose(user, job, [hook, email])
    sink.always["down"] = 503
    pipeline.source.publish(T0 - timedelta(hours=1), "#AI news")

    await pipeline.run_due()
    [execution] = await _executions(pipeline.db, job)
    assert execution.status == ExecutionStatus.COMPLETED.value  # a failing target never fails the run

    await pipeline.deliver()
    assert len(inbox.to(user.email)) == 1
    for _ in range(6):
        pipeline.clock.advance(NEXT_ROUND)
        await pipeline.deliver()

    assert sink.tried("down") == 5
    by_target = {d.target_id: d for d in await _deliveries(pipeline.db, job)}
    failed = by_target[hook.id]
    assert failed.status == DeliveryStatus.FAILED.value and failed.attempts == 5
    assert failed.last_error and "503" in failed.last_error
    assert failed.sent_at is None
    assert by_target[email.id].status == DeliveryStatus.SENT.value and by_target[email.id].attempts == 1
    assert len(inbox.to(user.email)) == 1


async def test_the_email_is_multipart_with_posts_summary_link_and_a_working_unsubscribe(
    pipeline: Pipeline, sink: Sink, inbox: Inbox, api: httpx.AsyncClient
) -> None:
    user, job = await pipeline.user_and_job(x_username="alice", topics=["ai"])
    _other_user, other_job = await pipeline.user_and_job(x_username="bob")
    async with pipeline.db.session() as session:
        second_job_of_user = await make_job(session, owner=user, x_username="carol", now=pipeline.clock())
    email = await pipeline.target(user, name="My inbox")
    hook = await pipeline.target(user, name="Hook", url=sink.url("hook"))
    await pipeline.choose(user, job, [email, hook])
    await pipeline.choose(user, second_job_of_user, [email])
    posts = [pipeline.source.publish(T0 - timedelta(minutes=m), f"#AI update {m}") for m in (30, 20, 10)]

    await pipeline.run_due()
    await pipeline.deliver()
    messages = inbox.to(user.email)
    assert len(messages) == 2  # one per job (alice, carol)
    [mail] = [m for m in messages if "@alice" in m["Subject"]]
    assert mail["Subject"].startswith("[XTrack] @alice: ")
    assert mail.is_multipart()
    text, html = _plain(mail), _html(mail)
    for post in posts:
        assert post.url in text and post.url in html
    [delivery] = [d for d in await _deliveries(pipeline.db, job) if d.target_id == email.id]
    summary_url = f"https://xtrack.test/summaries/{delivery.summary_id}"
    assert summary_url in text and summary_url in html
    assert "<script" not in html.lower()
    match = re.search(r"Unsubscribe: (\S+)", text)
    assert match, text
    link = urlsplit(match.group(1))
    assert link.netloc == "xtrack.test" and link.path == "/unsubscribe"
    token = parse_qs(link.query)["token"][0]
    assert f'href="https://xtrack.test/unsubscribe?token={link.query.removeprefix("token=")}"' in html

    # Without signing in: the page names what it stops; the form's POST stops it.
    page = await api.get(f"/unsubscribe?{link.query}")
    assert page.status_code == 200, page.text
    assert "My inbox" in page.text and "@alice" in page.text
    csrf = csrf_of(page.text)
    done = await api.post("/unsubscribe", data={"csrf_token": csrf, "token": token})
    assert done.status_code == 303, done.text

    # A tampered link is rejected and changes nothing.
    # One character of the signature changed (not the last: its low bits are base64 padding).
    tampered = f"{token[:-6]}{'A' if token[-6] != 'A' else 'B'}{token[-5:]}"
    page = await api.get("/unsubscribe", params={"token": tampered})
    assert page.status_code == 400 and "not valid" in page.text
    rejected = await api.post("/unsubscribe", data={"csrf_token": csrf, "token": tampered})
    assert rejected.status_code == 400

    # The next summaries: the unsubscribed pair gets nothing, the same target for the other job and
    # the other target for the same job still do.
    pipeline.clock.advance(timedelta(hours=1, minutes=1))
    pipeline.source.publish(pipeline.clock() - timedelta(minutes=5), "#AI more")
    await pipeline.run_due()
    await pipeline.deliver()
    alice_mails = [m for m in inbox.to(user.email) if "@alice" in m["Subject"]]
    carol_mails = [m for m in inbox.to(user.email) if "@carol" in m["Subject"]]
    assert len(alice_mails) == 1 and len(carol_mails) == 2
    assert len(sink.got("hook")) == 2
    latest = await _deliveries(pipeline.db, job)
    assert {d.target_id for d in latest if d.created_at > T0} == {hook.id}
    assert await _deliveries(pipeline.db, other_job) == []  # the other user's job was never touched


async def test_three_failed_runs_send_one_failure_notice_and_a_success_one_recovery_notice(
    pipeline: Pipeline, sink: Sink, inbox: Inbox
) -> None:
    user, job = await pipeline.user_and_job(frequency=60)
    hook = await pipeline.target(user, name="Hook", url=sink.url("alerts"))
    email = await pipeline.target(user, name="My inbox")
    await pipeline.choose(user, job, [hook, email])
    assert job.failure_threshold == 3 and job.notify_on_failure

    async def run_failing(count: int) -> None:
        for _ in range(count):
            pipeline.source.errors.append(AccountNotFound("@alice does not exist on X"))
            assert len(await pipeline.run_due()) == 1
            await pipeline.deliver()
            pipeline.clock.advance(timedelta(minutes=61))

    await run_failing(2)
    assert await _deliveries(pipeline.db, job) == []
    await run_failing(1)
    notices = await _deliveries(pipeline.db, job, DeliveryKind.FAILURE)
    assert sorted(d.target_id for d in notices) == sorted([hook.id, email.id])
    assert all(d.status == "SENT" for d in notices)
    await run_failing(4)  # the streak goes on: no second notice
    assert len(await _deliveries(pipeline.db, job, DeliveryKind.FAILURE)) == 2
    statuses = [e.status for e in await _executions(pipeline.db, job)]
    assert statuses == ["FAILED"] * 7

    [failure_body] = sink.got("alerts")
    assert "3 runs in a row failed" in failure_body["title"]
    assert "does not exist" in failure_body["message"]
    [failure_mail] = inbox.to(user.email)
    assert "3 runs in a row failed" in failure_mail["Subject"]

    # Recovered: a run that completes (even with no new posts) sends one recovery notice.
    assert len(await pipeline.run_due()) == 1
    await pipeline.deliver()
    recovery = await _deliveries(pipeline.db, job, DeliveryKind.RECOVERY)
    assert sorted(d.target_id for d in recovery) == sorted([hook.id, email.id])
    assert [body["title"] for body in sink.got("alerts")][1].endswith("runs work again")
    for _ in range(2):
        pipeline.clock.advance(timedelta(minutes=61))
        pipeline.source.publish(pipeline.clock() - timedelta(minutes=1), "#AI back")
        await pipeline.run_due()
        await pipeline.deliver()
    assert len(await _deliveries(pipeline.db, job, DeliveryKind.RECOVERY)) == 2
    assert len(await _deliveries(pipeline.db, job, DeliveryKind.FAILURE)) == 2
    kinds = [body["title"] for body in sink.got("alerts")]
    assert len(kinds) == 4  # failure, recovery, then two summaries
    assert len(inbox.to(user.email)) == 4

    # A new streak is a new notice.
    pipeline.clock.advance(timedelta(minutes=61))
    await run_failing(3)
    assert len(await _deliveries(pipeline.db, job, DeliveryKind.FAILURE)) == 4


async def test_failure_notices_can_be_turned_off_and_the_threshold_changed(
    pipeline: Pipeline, sink: Sink
) -> None:
    user, quiet = await pipeline.user_and_job(x_username="quiet", frequency=60)
    eager_owner, eager = await pipeline.user_and_job(x_username="eager", frequency=60)
    hook = await pipeline.target(user, name="Hook", url=sink.url("quiet"))
    await pipeline.choose(user, quiet, [hook], notify_on_failure=False)
    hook2 = await pipeline.target(eager_owner, name="Hook", url=sink.url("eager"))
    await pipeline.choose(eager_owner, eager, [hook2], failure_threshold=1)
    for _ in range(3):
        pipeline.source.errors += [AccountNotFound("gone"), AccountNotFound("gone")]
        await pipeline.run_due()
        pipeline.clock.advance(timedelta(minutes=61))
    await pipeline.deliver()
    assert await _deliveries(pipeline.db, quiet) == []
    [notice] = await _deliveries(pipeline.db, eager)
    assert notice.kind == "failure" and notice.status == "SENT"
    [body] = sink.got("eager")
    assert body["title"] == "[XTrack] @eager: the last run failed"


async def test_runs_without_new_posts_notify_nobody(pipeline: Pipeline, sink: Sink, inbox: Inbox) -> None:
    user, job = await pipeline.user_and_job()
    hook = await pipeline.target(user, name="Hook", url=sink.url("quiet"))
    await pipeline.choose(user, job, [hook])
    await pipeline.run_due()
    [execution] = await _executions(pipeline.db, job)
    assert execution.status == ExecutionStatus.COMPLETED.value and execution.tweets_fetched == 0
    await pipeline.deliver()
    assert await _deliveries(pipeline.db, job) == []
    assert sink.requests == []


async def test_a_disabled_target_and_a_suspended_owner_cancel_pending_deliveries(
    pipeline: Pipeline, sink: Sink
) -> None:
    user, job = await pipeline.user_and_job()
    paused = await pipeline.target(user, name="Paused", url=sink.url("paused"))
    owner_gone = await pipeline.target(user, name="Later", url=sink.url("later"))
    await pipeline.choose(user, job, [paused, owner_gone])
    pipeline.source.publish(T0 - timedelta(minutes=5), "#AI")
    await pipeline.run_due()
    async with pipeline.db.session() as session:
        await notify_targets.update_target(
            session,
            user=user,
            target_id=paused.id,
            data=TargetUpdate(is_enabled=False),
            settings=pipeline.settings,
            now=pipeline.clock(),
        )
        owner = await session.get(User, user.id)
        assert owner is not None
        owner.status = UserStatus.SUSPENDED.value
    await pipeline.deliver()
    by_target = {d.target_id: d for d in await _deliveries(pipeline.db, job)}
    assert by_target[paused.id].status == "FAILED" and "disabled" in (by_target[paused.id].last_error or "")
    assert by_target[owner_gone.id].status == "FAILED"
    assert "suspended" in (by_target[owner_gone.id].last_error or "")
    assert sink.requests == []


async def test_two_senders_at_once_send_each_delivery_once(pipeline: Pipeline, sink: Sink) -> None:
    user, job = await pipeline.user_and_job()
    targets = [await pipeline.target(user, name=f"Hook {i}", url=sink.url(f"h{i}")) for i in range(6)]
    await pipeline.choose(user, job, targets)
    pipeline.source.publish(T0 - timedelta(minutes=5), "#AI")
    await pipeline.run_due()
    rounds = await asyncio.gather(
        *(outbox.deliver_due(pipeline.db, pipeline.settings, now=T0) for _ in range(3))
    )
    sent = [delivery_id for r in rounds for delivery_id in r.sent]
    assert len(sent) == len(set(sent)) == 6
    assert all(len(sink.got(f"h{i}")) == 1 for i in range(6))


async def test_a_sender_that_died_mid_send_leaves_the_row_to_another_after_the_lease(
    pipeline: Pipeline, sink: Sink
) -> None:
    user, job = await pipeline.user_and_job()
    hook = await pipeline.target(user, name="Hook", url=sink.url("lease"))
    await pipeline.choose(user, job, [hook])
    pipeline.source.publish(T0 - timedelta(minutes=5), "#AI")
    await pipeline.run_due()
    [claimed] = await outbox.claim_due(pipeline.db, pipeline.settings, now=T0)  # then the sender "dies"
    assert claimed.attempts == 1
    assert await outbox.claim_due(pipeline.db, pipeline.settings, now=T0 + timedelta(seconds=299)) == []
    result = await outbox.deliver_due(pipeline.db, pipeline.settings, now=T0 + timedelta(seconds=301))
    assert result.sent == [claimed.id]
    [delivery] = await _deliveries(pipeline.db, job)
    assert delivery.attempts == 2 and delivery.status == "SENT"
    # The dead sender's late record is fenced out: it cannot overwrite the outcome.
    assert await outbox.record(pipeline.db, claimed, error=None, now=T0, max_attempts=5) == "superseded"
    assert len(sink.got("lease")) == 1


def test_the_first_retry_of_a_delivery_waits_the_configured_base() -> None:
    """XTRACK_NOTIFY_RETRY_BASE_SECONDS sets the first wait (a soak or a small deployment retries
    after seconds); the default keeps a minute; either way it grows, capped at an hour."""
    for _ in range(50):
        quick = (outbox.retry_at(1, now=T0, base=4.0) - T0).total_seconds()
        assert 2.0 <= quick <= 4.0
        default = (outbox.retry_at(1, now=T0) - T0).total_seconds()
        assert 30.0 <= default <= 60.0
        assert (outbox.retry_at(20, now=T0, base=4.0) - T0).total_seconds() <= 3600.0
