"""XTRACK_MAX_BODY_BYTES: an oversized body is answered 413 before anything parses it, whether it
declares its length or streams in chunks, and the server does not grow by what the client sends."""

from __future__ import annotations

import select
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.web.serving import serving

FIVE_MIB = 5 * 1024 * 1024
FORM = "application/x-www-form-urlencoded"


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield b"a" * min(size, total - sent)
        sent += size


async def _stream(total: int) -> AsyncIterator[bytes]:
    for chunk in _chunks(total):
        yield chunk


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/api/v1/auth/register", "application/json"), ("/register", FORM), ("/signin", FORM)],
)
async def test_a_declared_five_mib_body_is_413(
    client: httpx.AsyncClient, path: str, content_type: str
) -> None:
    response = await client.post(path, content=b"a" * FIVE_MIB, headers={"Content-Type": content_type})
    assert response.status_code == 413
    if path.startswith("/api/"):
        assert response.json() == {"detail": "The request body is too large."}


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/api/v1/auth/register", "application/json"), ("/register", FORM), ("/signin", FORM)],
)
async def test_a_chunked_body_is_counted_while_it_is_read(
    client: httpx.AsyncClient, path: str, content_type: str
) -> None:
    response = await client.post(path, content=_stream(FIVE_MIB), headers={"Content-Type": content_type})
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.headers["x-content-type-options"] == "nosniff"  # rendered like any other error


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PATCH", "/api/v1/me"),
        ("PUT", "/api/v1/jobs/1/targets"),
        ("DELETE", "/api/v1/jobs/1"),
        ("POST", "/api/v1/no/such/route"),
        ("POST", "/jobs/1/run"),
        ("POST", "/static/css/app.css"),
        ("GET", "/healthz"),
        ("GET", "/feeds/unknown.atom"),
        ("OPTIONS", "/api/v1/jobs"),
    ],
)
async def test_every_endpoint_answers_a_five_mib_body_with_413(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    # Whatever the route, its method, its authentication or whether it exists: a declared length over
    # the limit is answered before the app sees the request. (A chunked body is refused by the read
    # that crosses the limit: a route that never reads its body never holds it either.)
    response = await client.request(
        method, path, content=b"a" * FIVE_MIB, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413, (method, path, response.status_code)


async def test_a_body_under_the_limit_is_parsed_as_before(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/auth/register", json={"email": "x" * 100_000, "password": "p"})
    assert response.status_code == 422


# --- A real `xtrack serve` --------------------------------------------------------------------------


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _post_raw(port: int, path: str, content_type: str, *, chunked: bool) -> int:
    """Send a 5 MiB body the way an attacker would: headers, then the bytes as fast as the socket
    takes them, stopping as soon as the server answers. Returns the status code."""
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {FIVE_MIB}"
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n{framing}\r\n\r\n"
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.encode())
        for chunk in _chunks(FIVE_MIB):
            if select.select([sock], [], [], 0)[0]:
                break  # the server has answered: stop sending
            data = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" if chunked else chunk
            try:
                sock.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                break
        else:
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        while b"\r\n" not in answer:
            part = sock.recv(4096)
            if not part:
                break
            answer += part
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer.split()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    with serving(tmp_path) as server:
        yield server


@pytest.mark.process
@pytest.mark.xdist_group("processes")
def test_five_mib_bodies_to_a_real_server_are_413_and_the_process_does_not_grow(
    served: tuple[int, subprocess.Popen[str]],
) -> None:
    port, server = served
    # Warm up the code paths (first request, template loading) so they do not count as growth.
    for path, content_type in [("/api/v1/auth/register", "application/json"), ("/register", FORM)]:
        httpx.post(f"http://127.0.0.1:{port}{path}", content=b"{}", headers={"Content-Type": content_type})
    before = _rss_bytes(server.pid)
    statuses = [
        _post_raw(port, path, content_type, chunked=chunked)
        for path, content_type in [("/api/v1/auth/register", "application/json"), ("/register", FORM)]
        for chunked in (False, True)
    ]
    grown = _rss_bytes(server.pid) - before
    print(f"RSS grew by {grown / 1e6:.1f} MB over four 5 MiB requests")
    assert statuses == [413, 413, 413, 413]
    assert grown < 20_000_000
