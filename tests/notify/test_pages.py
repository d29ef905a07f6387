"""Notification pages: the targets page (add, validate, send test, delete with confirmation), the
job page's notifications card with its delivery history, a job's target choice; owner only."""

from __future__ import annotations

import re

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import make_job, make_user, signed_in
from tests.notify.conftest import Sink
from tests.users.conftest import csrf_of
from tests.web.pages_helpers import text_of
from xtrack.config import get_settings
from xtrack.db import utcnow
from xtrack.jobs.models import Job
from xtrack.notify import links, targets
from xtrack.notify.models import NotificationDelivery
from xtrack.notify.schemas import JobTargetsUpdate, TargetCreate
from xtrack.users.models import User

SECRET_HOOK = "json://127.0.0.1:9/hooks/S3CR3T-PATH"


async def _target(session: AsyncSession, user: User, name: str = "Team hook", url: str = SECRET_HOOK) -> int:
    target = await targets.create_target(
        session,
        user=user,
        data=TargetCreate(kind="apprise", name=name, url=url),
        settings=get_settings(),
        now=utcnow(),
    )
    await session.commit()
    return target.id


async def test_the_nav_leads_to_the_targets_page_with_an_empty_state(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    await signed_in(client, session, user)
    page = await client.get("/targets")
    assert page.status_code == 200
    assert '<a href="/targets">Notifications</a>' in page.text
    assert "tgram://" in page.text  # the form explains what an apprise URL looks like


async def test_adding_a_target_through_the_form_validates_and_masks(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    csrf = await signed_in(client, session, user)
    bad = await client.post(
        "/targets", data={"csrf_token": csrf, "kind": "apprise", "name": "Phone", "url": "notaurl"}
    )
    assert bad.status_code == 422
    assert "Apprise does not understand" in text_of(bad.text)
    assert 'value="Phone"' in bad.text  # the name is kept; a rejected URL is not echoed (it may hold secrets)
    assert 'value="notaurl"' not in bad.text

    created = await client.post(
        "/targets", data={"csrf_token": csrf, "kind": "apprise", "name": "Phone", "url": SECRET_HOOK}
    )
    assert created.status_code == 303
    page = await client.get(created.headers["location"])
    assert "Phone" in page.text and "json://127.0.0.1:9/…" in page.text
    assert "S3CR3T-PATH" not in page.text


async def test_send_test_from_the_page_reports_the_outcome(
    client: httpx.AsyncClient, session: AsyncSession, sink: Sink
) -> None:
    user = await make_user(session)
    csrf = await signed_in(client, session, user)
    target_id = await _target(session, user, url=sink.url("page"))
    sent = await client.post(f"/targets/{target_id}/test", data={"csrf_token": csrf})
    assert sent.status_code == 303
    assert "Test sent to “Team hook”" in await flash_after_page(client, sent)
    assert len(sink.got("page")) == 1
    sink.always["page"] = 500
    failed = await client.post(f"/targets/{target_id}/test", data={"csrf_token": csrf})
    assert "Test to “Team hook” failed" in await flash_after_page(client, failed)


async def flash_after_page(client: httpx.AsyncClient, response: httpx.Response) -> str:
    page = await client.get(response.headers["location"])
    return text_of(page.text)


async def test_deleting_a_target_asks_first(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session)
    await signed_in(client, session, user)
    target_id = await _target(session, user)
    confirm = await client.get(f"/targets/{target_id}/delete")
    assert confirm.status_code == 200 and "Team hook" in confirm.text
    assert f'action="/targets/{target_id}/delete"' in confirm.text
    assert await targets.list_targets(session, user=user)  # the GET deleted nothing
    deleted = await client.post(f"/targets/{target_id}/delete", data={"csrf_token": csrf_of(confirm.text)})
    assert deleted.status_code == 303
    assert "deleted" in await flash_after_page(client, deleted)
    assert await targets.list_targets(session, user=user) == []


async def _signed_in_owner_of_a_job(
    client: httpx.AsyncClient, session: AsyncSession
) -> tuple[User, Job, str]:
    """A user with one job, signed in on ``client``; returns them with the CSRF token."""
    user = await make_user(session)
    job = await make_job(session, owner=user)
    await session.commit()
    return user, job, await signed_in(client, session, user)


async def test_the_job_page_shows_its_targets_and_delivery_history(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user, job, _csrf = await _signed_in_owner_of_a_job(client, session)

    empty = await client.get(f"/jobs/{job.id}")
    assert empty.status_code == 200
    assert "until you add a notification target" in text_of(empty.text)
    assert f'href="/jobs/{job.id}/targets"' in empty.text

    target_id = await _target(session, user)
    unchosen = await client.get(f"/jobs/{job.id}")
    assert "sends its summaries nowhere yet" in text_of(unchosen.text)

    await targets.set_job_targets(
        session, user=user, job_id=job.id, data=JobTargetsUpdate(target_ids=[target_id]), now=utcnow()
    )
    session.add(
        NotificationDelivery(
            target_id=target_id,
            job_id=job.id,
            kind="summary",
            status="FAILED",
            attempts=5,
            last_error="HTTP 500 from the hook",
            last_attempt_at=utcnow(),
            payload={},
        )
    )
    await session.commit()
    for path in (f"/jobs/{job.id}", f"/jobs/{job.id}/targets"):
        page = await client.get(path)
        assert page.status_code == 200
        text = text_of(page.text)
        assert "Team hook" in text and "json://127.0.0.1:9/…" in text
        assert "HTTP 500 from the hook" in text
        assert "S3CR3T-PATH" not in page.text
    assert "failed runs in a row" in text_of((await client.get(f"/jobs/{job.id}")).text)


async def test_a_jobs_delivery_history_pages_older_and_newer_without_gaps_or_repeats(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user, job, _csrf = await _signed_in_owner_of_a_job(client, session)
    target_id = await _target(session, user)
    deliveries = [
        NotificationDelivery(
            target_id=target_id, job_id=job.id, kind="summary", status="SENT", attempts=1, payload={}
        )
        for _ in range(45)
    ]
    session.add_all(deliveries)
    await session.commit()
    newest_first = sorted((d.id for d in deliveries), reverse=True)

    def shown(html: str) -> list[int]:
        return [int(found) for found in re.findall(r'<tr id="delivery-(\d+)"', html)]

    def link(html: str, rel: str) -> str | None:
        found = re.search(rf'href="([^"]+)" rel="{rel}"', html)
        return found.group(1) if found else None

    pages: list[list[int]] = []
    url: str | None = f"/jobs/{job.id}/targets"
    visited: list[str] = []
    while url is not None:
        page = await client.get(url)
        assert page.status_code == 200
        pages.append(shown(page.text))
        visited.append(url)
        url = link(page.text, "next")
    assert [len(ids) for ids in pages] == [20, 20, 5]
    assert [i for ids in pages for i in ids] == newest_first  # every delivery once, newest first
    # Newer from the last page leads back through the same pages.
    last = await client.get(visited[-1])
    newer = link(last.text, "prev")
    assert newer is not None and shown((await client.get(newer)).text) == pages[1]
    second = await client.get(visited[1])
    assert link(second.text, "prev") == f"/jobs/{job.id}/targets#deliveries-title"

    end = await client.get(f"/jobs/{job.id}/targets", params={"before": min(newest_first)})
    assert "No older deliveries" in text_of(end.text)
    assert (await client.get(f"/jobs/{job.id}/targets", params={"before": 0})).status_code == 422


async def test_choosing_targets_for_a_job_through_the_form(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user, job, csrf = await _signed_in_owner_of_a_job(client, session)
    target_id = await _target(session, user)
    saved = await client.post(
        f"/jobs/{job.id}/targets",
        data={
            "csrf_token": csrf,
            "target_ids": [str(target_id)],
            "notify_on_failure": "on",
            "failure_threshold": "4",
        },
    )
    assert saved.status_code == 303
    view = await targets.job_targets(session, user=user, job_id=job.id)
    assert view.target_ids == [target_id]
    await session.refresh(view.job)
    assert view.job.failure_threshold == 4 and view.job.notify_on_failure

    bad = await client.post(
        f"/jobs/{job.id}/targets",
        data={"csrf_token": csrf, "target_ids": [str(target_id)], "failure_threshold": "0"},
    )
    assert bad.status_code == 422
    assert "greater than or equal to 1" in text_of(bad.text)


async def test_another_users_targets_and_job_are_404(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await make_user(session)
    job = await make_job(session, owner=owner)
    await session.commit()
    target_id = await _target(session, owner)
    stranger = await make_user(session)
    csrf = await signed_in(client, session, stranger)
    assert (await client.get(f"/targets/{target_id}/edit")).status_code == 404
    assert (await client.get(f"/targets/{target_id}/delete")).status_code == 404
    assert (await client.post(f"/targets/{target_id}/delete", data={"csrf_token": csrf})).status_code == 404
    assert (await client.post(f"/targets/{target_id}/test", data={"csrf_token": csrf})).status_code == 404
    assert (await client.get(f"/jobs/{job.id}/targets")).status_code == 404
    assert "Team hook" not in (await client.get("/targets")).text
    assert await targets.list_targets(session, user=owner)  # still there


async def test_unsubscribe_needs_no_sign_in_and_shows_what_it_stops(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await make_user(session)
    job = await make_job(session, owner=owner, x_username="alice")
    other_job = await make_job(session, owner=owner, x_username="bob")
    target_id = await _target(session, owner)
    for job_id in (job.id, other_job.id):
        await targets.set_job_targets(
            session, user=owner, job_id=job_id, data=JobTargetsUpdate(target_ids=[target_id]), now=utcnow()
        )
    await session.commit()
    token = links.unsubscribe_token(get_settings(), target_id=target_id, job_id=job.id)

    page = await client.get("/unsubscribe", params={"token": token})  # no session cookie
    assert page.status_code == 200
    assert "Team hook" in page.text and "@alice" in page.text and "S3CR3T-PATH" not in page.text
    done = await client.post("/unsubscribe", data={"csrf_token": csrf_of(page.text), "token": token})
    assert done.status_code == 303
    assert "gets nothing more about @alice" in await flash_after_page(client, done)
    alice = await targets.job_targets(session, user=owner, job_id=job.id)
    bob = await targets.job_targets(session, user=owner, job_id=other_job.id)
    assert alice.target_ids == [] and alice.choices[0].unsubscribed
    assert bob.target_ids == [target_id]

    # The owner shows it on the job page and can choose it again.
    csrf = await signed_in(client, session, owner)
    assert "Unsubscribed" in (await client.get(f"/jobs/{job.id}")).text
    await client.post(f"/jobs/{job.id}/targets", data={"csrf_token": csrf, "target_ids": [str(target_id)]})
    assert (await targets.job_targets(session, user=owner, job_id=job.id)).target_ids == [target_id]
