"""The outbound guard on notification targets (issue 22, finding 1): in production a target cannot
point at this machine or the operator's network, neither when it is saved nor when it is sent (a
name that changed its address since, a redirect), and local-only apprise services are refused.

Real listeners on loopback addresses play the internal services. No DNS server runs here, so the
tests that need a name replace the guard's resolver (``outbound.resolve``); the redirect test also
lets 127.0.0.2 stand for a public address, the one thing no local stand-in can be."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from tests.conftest import auth_headers, make_user, signed_in
from tests.fakes.server import free_port, serve_app
from tests.notify.conftest import Sink
from tests.users.conftest import client_for
from xtrack import outbound
from xtrack.config import Settings
from xtrack.db import Database
from xtrack.notify import senders

PUBLIC_ADDRESS = "93.184.215.14"  # documentation of a real public address; never contacted here


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "100.127.255.254",
        "224.0.0.251",
        "240.0.0.1",
        "0.0.0.0",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fe80::1%eth0",
        "fc00::1",
        "fd12:3456::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:8.8.8.8",
        "64:ff9b::7f00:1",
        "2001:db8::1",
    ],
)
def test_every_non_public_address_is_refused(address: str) -> None:
    assert outbound.refusal_reason(address) is not None


@pytest.mark.parametrize("address", [PUBLIC_ADDRESS, "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert outbound.refusal_reason(address) is None


@pytest.fixture
def production(settings: Settings) -> Settings:
    """Production settings as an operator runs them (no XTRACK_OUTBOUND_ALLOW_PRIVATE set)."""
    return settings.model_copy(
        update={
            "env": "production",
            "base_url": "https://xtrack.test",
            "smtp_url": "smtp://127.0.0.1:2525",
            "outbound_allow_private": None,
        }
    )


@pytest.fixture
async def production_client(db: Database, production: Settings) -> AsyncIterator[httpx.AsyncClient]:
    client = await client_for(production)
    async with client:
        yield client


SYSTEM_RESOLVE = outbound.resolve


def resolving(names: dict[str, str]) -> Callable[[str], list[str]]:
    """A resolver answering ``names`` (name -> address); addresses (in any form the system resolver
    reads, "2130706433" too) go to the system resolver, other names are not found."""

    def resolve(host: str) -> list[str]:
        if host in names:
            return [names[host]]
        if host.endswith(".test"):
            raise outbound.OutboundRefused(f"XTrack could not find the host {host}.")
        return SYSTEM_RESOLVE(host)

    return resolve


async def _create(client: httpx.AsyncClient, headers: dict[str, str], url: str) -> httpx.Response:
    return await client.post(
        "/api/v1/targets", json={"kind": "apprise", "name": "Hook", "url": url}, headers=headers
    )


def test_development_allows_private_addresses_and_production_does_not(settings: Settings) -> None:
    assert settings.model_copy(update={"env": "development"}).allow_private_outbound is True
    assert settings.model_copy(update={"env": "production"}).allow_private_outbound is False
    allowed = settings.model_copy(update={"env": "production", "outbound_allow_private": True})
    assert allowed.allow_private_outbound is True


async def test_production_refuses_internal_targets_when_they_are_saved(
    production_client: httpx.AsyncClient,
    session: AsyncSession,
    sink: Sink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(outbound, "resolve", resolving({"intranet.example.test": "127.0.0.1"}))
    headers = await auth_headers(session, await make_user(session))
    port = sink.base.rsplit(":", 1)[1]
    for url in [
        f"json://127.0.0.1:{port}/p?+X-Secret=abc",
        "json://10.0.0.1/hook",
        "json://169.254.169.254/latest/meta-data",
        "json://100.64.1.2/hook",
        "json://[::ffff:127.0.0.1]/hook",
        f"json://intranet.example.test:{port}/hook",
        "gotify://192.168.1.20/token",
        "ntfy://[::1]/topic",
        "json://2130706433/hook",  # 127.0.0.1 as one number: the resolver's answer is what is checked
    ]:
        response = await _create(production_client, headers, url)
        assert response.status_code == 422, (url, response.text)
        [error] = response.json()["detail"]
        assert error["loc"][-1] == "url"
        assert "XTRACK_OUTBOUND_ALLOW_PRIVATE" in error["msg"], url
    for local_only in ["syslog://", "rsyslog://10.0.0.1", "dbus://", "gnome://"]:
        response = await _create(production_client, headers, local_only)
        assert response.status_code == 422, (local_only, response.text)
        assert "XTrack server itself" in response.text
    assert (await production_client.get("/api/v1/targets", headers=headers)).json()["items"] == []
    assert sink.requests == []


async def test_the_targets_form_shows_the_refusal(
    db: Database, production: Settings, session: AsyncSession, sink: Sink
) -> None:
    user = await make_user(session)
    async with await client_for(production, base_url="https://testserver") as client:
        csrf = await signed_in(client, session, user)
        response = await client.post(
            "/targets", data={"csrf_token": csrf, "kind": "apprise", "name": "Hook", "url": sink.url("form")}
        )
    assert response.status_code == 422, response.text
    assert "XTRACK_OUTBOUND_ALLOW_PRIVATE" in response.text and "loopback" in response.text


async def test_an_operator_can_allow_private_addresses(
    production: Settings, session: AsyncSession, sink: Sink
) -> None:
    headers = await auth_headers(session, await make_user(session))
    async with await client_for(production.model_copy(update={"outbound_allow_private": True})) as client:
        saved = await _create(client, headers, sink.url("self-hosted"))
        assert saved.status_code == 201, saved.text
        sent = await client.post(f"/api/v1/targets/{saved.json()['id']}/test", headers=headers)
    assert sent.json()["status"] == "SENT"
    assert len(sink.got("self-hosted")) == 1


async def test_a_name_that_points_at_loopback_by_send_time_is_not_contacted(
    production: Settings, session: AsyncSession, sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = await auth_headers(session, await make_user(session))
    port = sink.base.rsplit(":", 1)[1]
    url = f"json://hooks.example.test:{port}/rebound"
    monkeypatch.setattr(outbound, "resolve", resolving({"hooks.example.test": PUBLIC_ADDRESS}))
    async with await client_for(production) as client:
        saved = await _create(client, headers, url)
        assert saved.status_code == 201, saved.text  # public when saved
        monkeypatch.setattr(outbound, "resolve", resolving({"hooks.example.test": "127.0.0.1"}))
        sent = await client.post(f"/api/v1/targets/{saved.json()['id']}/test", headers=headers)
    assert sent.status_code == 200
    delivery = sent.json()
    assert delivery["status"] == "FAILED"
    assert "loopback" in delivery["last_error"] and "XTRACK_OUTBOUND_ALLOW_PRIVATE" in delivery["last_error"]
    assert "127.0.0.1" not in delivery["last_error"]  # what an internal name resolves to stays unsaid
    assert sink.requests == []  # the listener behind the name was never contacted

    # The same name, where private addresses are allowed: the send does reach the listener through
    # the guard's resolver (so above it was the check, not a broken name, that kept it away).
    allowed = production.model_copy(update={"outbound_allow_private": True})
    async with await client_for(allowed) as client:
        sent = await client.post(f"/api/v1/targets/{saved.json()['id']}/test", headers=headers)
    assert sent.json()["status"] == "SENT", sent.text
    assert len(sink.got("rebound")) == 1


@dataclass
class Redirector:
    """A "public" webhook on 127.0.0.2 answering every POST with a 307 to ``location``."""

    location: str = ""
    seen: list[str] = field(default_factory=list)
    port: str = ""


@pytest.fixture
def redirector() -> Iterator[Redirector]:
    redirects = Redirector()
    lock = threading.Lock()

    async def handle(request: Request) -> Response:
        with lock:
            redirects.seen.append(request.url.path)
        return RedirectResponse(redirects.location, status_code=307)

    app = Starlette(routes=[Route("/{path:path}", handle, methods=["POST"])])
    with serve_app(app, host="127.0.0.2") as base_url:
        redirects.port = base_url.rsplit(":", 1)[1]
        yield redirects


async def test_a_redirect_to_loopback_is_not_followed(
    production: Settings,
    session: AsyncSession,
    sink: Sink,
    redirector: Redirector,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    redirector.location = f"http://{sink.base}/moved"
    real_reason = outbound.refusal_reason
    # 127.0.0.2 plays a public host; 127.0.0.1 stays what it is.
    monkeypatch.setattr(outbound, "refusal_reason", lambda a: None if a == "127.0.0.2" else real_reason(a))
    monkeypatch.setattr(outbound, "resolve", resolving({"public.example.test": "127.0.0.2"}))
    headers = await auth_headers(session, await make_user(session))
    async with await client_for(production) as client:
        # ``redirect=yes`` asks apprise to follow redirects: XTrack does not let it.
        saved = await _create(
            client, headers, f"json://public.example.test:{redirector.port}/hook?redirect=yes"
        )
        assert saved.status_code == 201, saved.text
        sent = await client.post(f"/api/v1/targets/{saved.json()['id']}/test", headers=headers)
    assert redirector.seen == ["/hook"]  # the public host was contacted once
    assert sent.json()["status"] == "FAILED"
    assert sink.requests == []  # and its redirect to loopback was not followed


async def test_a_connection_that_failed_is_stored_without_its_reason(
    client: httpx.AsyncClient, session: AsyncSession, sink: Sink
) -> None:
    # A closed port and a silent host read the same: the stored error is no port scanner. An answer
    # from the service (a 404 here) still says what the service said.
    headers = await auth_headers(session, await make_user(session))
    closed = free_port()
    sink.always["missing"] = 404
    errors: dict[str, str] = {}
    for name, url in [("closed", f"json://127.0.0.1:{closed}/x"), ("answered", sink.url("missing"))]:
        saved = await _create(client, headers, url)
        sent = await client.post(f"/api/v1/targets/{saved.json()['id']}/test", headers=headers)
        errors[name] = sent.json()["last_error"]
    assert errors["closed"] == senders.COULD_NOT_CONNECT
    assert "404" in errors["answered"] or "Not Found" in errors["answered"]


async def test_changing_a_target_to_an_internal_address_is_refused_too(
    production: Settings, session: AsyncSession, sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbound, "resolve", resolving({"hooks.example.test": PUBLIC_ADDRESS}))
    headers = await auth_headers(session, await make_user(session))
    async with await client_for(production) as client:
        saved = await _create(client, headers, "json://hooks.example.test/hook")
        assert saved.status_code == 201, saved.text
        changed = await client.patch(
            f"/api/v1/targets/{saved.json()['id']}", json={"url": sink.url("moved")}, headers=headers
        )
    assert changed.status_code == 422 and "XTRACK_OUTBOUND_ALLOW_PRIVATE" in changed.text
    assert changed.json()["detail"][0]["loc"][-1] == "url"
