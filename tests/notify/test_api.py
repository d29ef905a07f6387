"""Notifications API: targets (validated, masked, owner only), "send test", per-job selection."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import auth_headers, make_job, make_user
from tests.fakes.smtp import Inbox
from tests.notify.conftest import Sink
from tests.users.conftest import client_for
from xtrack.config import Settings
from xtrack.db import Database
from xtrack.users.models import UserStatus

TELEGRAM = "tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/-1001234567"


async def _create(client: httpx.AsyncClient, headers: dict[str, str], **body: object) -> httpx.Response:
    return await client.post("/api/v1/targets", json=body, headers=headers)


async def test_apprise_targets_are_validated_and_never_shown_back_in_full(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    headers = await auth_headers(session, await make_user(session))
    created = await _create(client, headers, kind="apprise", name="  My   phone ", url=TELEGRAM)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["name"] == "My phone" and body["is_enabled"] and body["job_count"] == 0
    assert body["destination"] == "tgram://***/…"
    listed = await client.get("/api/v1/targets", headers=headers)
    one = await client.get(f"/api/v1/targets/{body['id']}", headers=headers)
    for text in (created.text, listed.text, one.text):
        assert "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw" not in text and "1001234567" not in text
        assert "123456789" not in text

    for bad, fragment in [
        ({"kind": "apprise", "name": "x", "url": "not a url"}, "Apprise does not understand"),
        ({"kind": "apprise", "name": "x", "url": "https://hooks.example.com/x"}, "json://"),
        ({"kind": "apprise", "name": "x", "url": ""}, "apprise URL"),
        ({"kind": "apprise", "name": "   ", "url": TELEGRAM}, "Enter a name"),
        ({"kind": "pigeon", "name": "x"}, "email"),
    ]:
        response = await _create(client, headers, **bad)
        assert response.status_code == 422, (bad, response.text)
        assert fragment in response.text, (bad, response.text)
    missing = await _create(client, headers, kind="apprise", name="No URL")
    assert missing.status_code == 422 and "url" in str(missing.json()["detail"])


async def test_email_targets_go_only_to_the_verified_address(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session, email="Reader@Example.com")
    headers = await auth_headers(session, user)
    ok = await _create(client, headers, kind="email", name="Inbox")
    assert ok.status_code == 201 and ok.json()["destination"] == "reader@example.com"
    other = await _create(client, headers, kind="email", name="Boss", email="boss@example.com")
    assert other.status_code == 422
    [error] = other.json()["detail"]
    assert error["loc"][-1] == "email" and "verified address" in error["msg"]
    with_url = await _create(client, headers, kind="email", name="Inbox", url="json://127.0.0.1/x")
    assert with_url.status_code == 422

    unverified = await make_user(session, status=UserStatus.UNVERIFIED)
    refused = await _create(client, await auth_headers(session, unverified), kind="email", name="Inbox")
    assert refused.status_code == 403 and "verify" in refused.text.lower()


async def test_targets_are_owner_only(client: httpx.AsyncClient, session: AsyncSession) -> None:
    owner_headers = await auth_headers(session, await make_user(session))
    stranger = await make_user(session)
    stranger_headers = await auth_headers(session, stranger)
    target_id = (
        await _create(client, owner_headers, kind="apprise", name="Hook", url="json://127.0.0.1:9/h")
    ).json()["id"]
    assert (await client.get(f"/api/v1/targets/{target_id}", headers=stranger_headers)).status_code == 404
    patched = await client.patch(
        f"/api/v1/targets/{target_id}", json={"name": "Mine"}, headers=stranger_headers
    )
    assert patched.status_code == 404
    tested = await client.post(f"/api/v1/targets/{target_id}/test", headers=stranger_headers)
    assert tested.status_code == 404
    assert (await client.delete(f"/api/v1/targets/{target_id}", headers=stranger_headers)).status_code == 404
    assert (await client.get("/api/v1/targets", headers=stranger_headers)).json()["items"] == []
    job = await make_job(session, owner=stranger)
    await session.commit()
    stolen = await client.put(
        f"/api/v1/jobs/{job.id}/targets", json={"target_ids": [target_id]}, headers=stranger_headers
    )
    assert stolen.status_code == 422 and f"Unknown notification target: {target_id}" in stolen.text
    assert (await client.get(f"/api/v1/jobs/{job.id}/targets", headers=owner_headers)).status_code == 404
    assert (await client.get("/api/v1/targets")).status_code == 401


async def test_patch_changes_only_what_is_sent_and_delete_removes(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    headers = await auth_headers(session, await make_user(session))
    target = (await _create(client, headers, kind="apprise", name="Hook", url="json://127.0.0.1:9/h")).json()
    renamed = await client.patch(f"/api/v1/targets/{target['id']}", json={"name": "Team"}, headers=headers)
    assert renamed.status_code == 200 and renamed.json()["name"] == "Team"
    assert renamed.json()["destination"] == target["destination"] == "json://127.0.0.1:9/…"
    paused = await client.patch(
        f"/api/v1/targets/{target['id']}", json={"is_enabled": False}, headers=headers
    )
    assert paused.json()["is_enabled"] is False and paused.json()["name"] == "Team"
    bad = await client.patch(f"/api/v1/targets/{target['id']}", json={"url": "nope"}, headers=headers)
    assert bad.status_code == 422
    assert (await client.delete(f"/api/v1/targets/{target['id']}", headers=headers)).status_code == 204
    assert (await client.get(f"/api/v1/targets/{target['id']}", headers=headers)).status_code == 404


async def test_send_test_reaches_the_sink_and_a_failure_is_readable_without_secrets(
    client: httpx.AsyncClient, session: AsyncSession, sink: Sink
) -> None:
    headers = await auth_headers(session, await make_user(session))
    good = (await _create(client, headers, kind="apprise", name="Hook", url=sink.url("ok"))).json()
    sent = await client.post(f"/api/v1/targets/{good['id']}/test", headers=headers)
    assert sent.status_code == 200, sent.text
    assert sent.json()["status"] == "SENT" and sent.json()["kind"] == "test" and sent.json()["attempts"] == 1
    [body] = sink.got("ok")
    assert body["title"] == "[XTrack] Test notification" and "“Hook”" in body["message"]

    sink.always["secret-key-0042"] = 500
    bad = (
        await _create(client, headers, kind="apprise", name="Broken", url=sink.url("secret-key-0042"))
    ).json()
    failed = await client.post(f"/api/v1/targets/{bad['id']}/test", headers=headers)
    assert failed.status_code == 200
    assert failed.json()["status"] == "FAILED" and "500" in failed.json()["last_error"]
    assert "secret-key-0042" not in failed.text
    listed = {t["name"]: t for t in (await client.get("/api/v1/targets", headers=headers)).json()["items"]}
    assert listed["Hook"]["last_delivery"]["status"] == "SENT"
    assert listed["Broken"]["last_delivery"]["status"] == "FAILED"
    assert "secret-key-0042" not in str(listed)


async def test_send_test_to_email_arrives(
    db: Database, session: AsyncSession, inbox: Inbox, mail_settings: Settings
) -> None:
    user = await make_user(session)
    headers = await auth_headers(session, user)
    async with await client_for(mail_settings) as client:
        target = (await _create(client, headers, kind="email", name="Inbox")).json()
        sent = await client.post(f"/api/v1/targets/{target['id']}/test", headers=headers)
    assert sent.status_code == 200 and sent.json()["status"] == "SENT", sent.text
    [mail] = inbox.to(user.email)
    assert mail["Subject"] == "[XTrack] Test notification"
    assert "https://xtrack.test/targets" in mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]


async def test_send_test_is_rate_limited(
    client: httpx.AsyncClient, session: AsyncSession, sink: Sink
) -> None:
    headers = await auth_headers(session, await make_user(session))
    target = (await _create(client, headers, kind="apprise", name="Hook", url=sink.url("many"))).json()
    statuses = [
        (await client.post(f"/api/v1/targets/{target['id']}/test", headers=headers)).status_code
        for _ in range(11)
    ]
    assert statuses[:10] == [200] * 10 and statuses[10] == 429
    assert len(sink.got("many")) == 10


async def test_a_job_chooses_its_targets_and_failure_settings(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    headers = await auth_headers(session, user)
    job = await make_job(session, owner=user)
    await session.commit()
    a = (await _create(client, headers, kind="apprise", name="A", url="json://127.0.0.1:9/a")).json()
    b = (await _create(client, headers, kind="email", name="B")).json()
    initial = (await client.get(f"/api/v1/jobs/{job.id}/targets", headers=headers)).json()
    assert initial["target_ids"] == [] and initial["notify_on_failure"] and initial["failure_threshold"] == 3
    assert [t["name"] for t in initial["targets"]] == ["A", "B"]

    chosen = await client.put(
        f"/api/v1/jobs/{job.id}/targets",
        json={"target_ids": [b["id"], a["id"], a["id"]], "failure_threshold": 5},
        headers=headers,
    )
    assert chosen.status_code == 200, chosen.text
    assert sorted(chosen.json()["target_ids"]) == sorted([a["id"], b["id"]])
    assert chosen.json()["failure_threshold"] == 5 and chosen.json()["notify_on_failure"]
    listed = {t["name"]: t for t in (await client.get("/api/v1/targets", headers=headers)).json()["items"]}
    assert listed["A"]["job_count"] == 1

    narrowed = await client.put(
        f"/api/v1/jobs/{job.id}/targets",
        json={"target_ids": [a["id"]], "notify_on_failure": False},
        headers=headers,
    )
    assert narrowed.json()["target_ids"] == [a["id"]] and narrowed.json()["notify_on_failure"] is False
    assert narrowed.json()["failure_threshold"] == 5

    for bad in (
        {"target_ids": [a["id"]], "failure_threshold": 0},
        {"target_ids": "all"},
        {"target_ids": [], "x": 1},
    ):
        response = await client.put(f"/api/v1/jobs/{job.id}/targets", json=bad, headers=headers)
        assert response.status_code == 422, bad
    deliveries = await client.get(f"/api/v1/jobs/{job.id}/deliveries", headers=headers)
    assert deliveries.status_code == 200 and deliveries.json()["items"] == []


async def test_unverified_users_read_but_cannot_change(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session, status=UserStatus.UNVERIFIED)
    headers = await auth_headers(session, user)
    assert (await client.get("/api/v1/targets", headers=headers)).status_code == 200
    created = await _create(client, headers, kind="apprise", name="Hook", url="json://127.0.0.1:9/a")
    assert created.status_code == 403 and "verify your email" in created.json()["detail"].lower()
