"""The rate limiter itself: per-IP and per-email keys, Retry-After, memory and Redis storage."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Callable

import pytest
from limits.aio.storage import MemoryStorage, RedisStorage
from sqlalchemy.ext.asyncio import AsyncSession

from tests.users.conftest import client_for, get_form
from xtrack.config import Settings, get_settings
from xtrack.errors import RateLimited
from xtrack.ratelimit import RateLimiter


async def test_the_email_key_blocks_a_distributed_attack_on_one_account() -> None:
    limiter = RateLimiter(MemoryStorage())
    for ip in ["10.0.0.1", "10.0.0.2", "10.0.0.3"]:
        await limiter.check("signin", "3 per 10 seconds", ip=ip, email="victim@example.com")
    with pytest.raises(RateLimited) as caught:
        await limiter.check("signin", "3 per 10 seconds", ip="10.0.0.4", email=" VICTIM@example.com")
    assert caught.value.retry_after is not None and 1 <= caught.value.retry_after <= 10
    assert "Try again in" in caught.value.message
    # Other accounts and other scopes are not affected.
    await limiter.check("signin", "3 per 10 seconds", ip="10.0.0.5", email="someone@example.com")
    await limiter.check("reset", "3 per 10 seconds", ip="10.0.0.4", email="victim@example.com")


async def test_the_window_moves_on() -> None:
    limiter = RateLimiter(MemoryStorage())
    await limiter.check("x", "1 per 1 second", ip="1.2.3.4")
    with pytest.raises(RateLimited):
        await limiter.check("x", "1 per 1 second", ip="1.2.3.4")
    await asyncio.sleep(1.1)
    await limiter.check("x", "1 per 1 second", ip="1.2.3.4")


async def test_clear_forgets_the_attempts() -> None:
    limiter = RateLimiter(MemoryStorage())
    await limiter.check("x", "1/minute", ip="1.2.3.4", email="a@example.com")
    await limiter.clear("x", "1/minute", ip="1.2.3.4", email="a@example.com")
    await limiter.check("x", "1/minute", ip="1.2.3.4", email="a@example.com")


async def test_redis_storage_is_shared_by_every_limiter() -> None:
    url = os.environ.get("XTRACK_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    settings = get_settings().model_copy(update={"redis_url": url})
    first, second = RateLimiter.from_settings(settings), RateLimiter.from_settings(settings)
    assert isinstance(first.storage, RedisStorage)
    scope = f"test-{uuid.uuid4().hex}"  # a private key space: nothing to clean up but short-lived keys
    await first.check(scope, "2 per 5 seconds", ip="1.2.3.4")
    await second.check(scope, "2 per 5 seconds", ip="1.2.3.4")
    with pytest.raises(RateLimited):
        await first.check(scope, "2 per 5 seconds", ip="1.2.3.4")


def test_rate_limit_settings_are_validated() -> None:
    from pydantic import ValidationError

    from xtrack.config import Settings, describe_validation_error

    with pytest.raises(ValidationError) as caught:
        Settings(signin_rate_limit="lots")
    assert describe_validation_error(caught.value).startswith("XTRACK_SIGNIN_RATE_LIMIT: not a rate limit")


def test_production_web_refuses_to_start_without_redis() -> None:
    env = {
        **os.environ,
        "XTRACK_ENV": "production",
        "XTRACK_SMTP_URL": "smtp://127.0.0.1:2525",
        "XTRACK_BASE_URL": "https://xtrack.example.com",
    }
    env.pop("XTRACK_REDIS_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "xtrack", "web"], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 2
    assert "XTRACK_REDIS_URL is required" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


async def test_register_resend_and_reset_are_rate_limited(
    configure: Callable[..., Settings], session: AsyncSession
) -> None:
    settings = configure(register_rate_limit="2 per 10 seconds", email_rate_limit="1 per 10 seconds")
    async with await client_for(settings) as client:
        for n in range(2):
            response = await client.post(
                "/api/v1/auth/register", json={"email": f"many{n}@example.com", "password": "long password 1"}
            )
            assert response.status_code == 202
        third = await client.post(
            "/api/v1/auth/register", json={"email": "many2@example.com", "password": "long password 1"}
        )
        assert third.status_code == 429 and int(third.headers["Retry-After"]) >= 1

        assert (
            await client.post("/api/v1/auth/resend-verification", json={"email": "many0@example.com"})
        ).status_code == 202
        resend = await client.post("/api/v1/auth/resend-verification", json={"email": "many0@example.com"})
        assert resend.status_code == 429

        csrf = await get_form(client, "/reset")
        first = await client.post("/reset", data={"csrf_token": csrf, "email": "many1@example.com"})
        assert first.status_code == 303
        second = await client.post("/reset", data={"csrf_token": csrf, "email": "many1@example.com"})
        assert second.status_code == 429 and "Too many attempts" in second.text
        assert second.headers["Retry-After"] and 'value="many1@example.com"' in second.text
