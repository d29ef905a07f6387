"""XTRACK_FORWARDED_ALLOW_IPS reaches uvicorn: behind a trusted proxy the sign-in limits count the
X-Forwarded-For client, not the proxy; from an untrusted peer the header is ignored."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.web.serving import serving

pytestmark = [pytest.mark.process, pytest.mark.xdist_group("processes")]

WRONG = {"email": "someone@example.com", "password": "wrong password", "name": "x"}


def _token_attempts(port: int, forwarded_for: str, count: int) -> list[int]:
    headers = {"X-Forwarded-For": forwarded_for}
    url = f"http://127.0.0.1:{port}/api/v1/auth/token"
    return [httpx.post(url, json=WRONG, headers=headers).status_code for _ in range(count)]


@pytest.mark.parametrize(("allowed", "trusted"), [("127.0.0.1", True), ("192.0.2.1", False)])
def test_the_forwarded_client_is_the_one_counted_only_behind_a_trusted_proxy(
    tmp_path: Path, allowed: str, trusted: bool
) -> None:
    settings = {"XTRACK_SIGNIN_RATE_LIMIT": "2/minute", "XTRACK_FORWARDED_ALLOW_IPS": allowed}
    with serving(tmp_path, **settings) as (port, _server):
        assert _token_attempts(port, "203.0.113.1", 3) == [401, 401, 429]
        # Another client behind the same proxy: its own bucket, unless the header is not trusted.
        assert _token_attempts(port, "203.0.113.2", 1) == ([401] if trusted else [429])
