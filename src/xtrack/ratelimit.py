"""Rate limits for abuse-prone actions (sign-in, registration, emails), moving window.

One ``RateLimiter`` per web app, in memory when XTrack runs as one process, in Redis when
``XTRACK_REDIS_URL`` is set (every web process then shares the counters). Limits are strings in
the ``limits`` notation, read from settings: ``"10/minute"``, ``"5 per 2 seconds"``.

In a route::

    from xtrack.ratelimit import RateLimiterDep, client_ip

    await limiter.check_signin(settings, email=email, ip=client_ip(request))

``check`` counts one attempt against each key (the client IP, the email, the user) and raises
``RateLimited`` (429, with ``retry_after`` seconds) once any is over the limit. Sign-in goes through
``check_signin`` (per account and address, plus a per-address ceiling). Nothing is permanent: when
the window has moved past the attempts, the next one is allowed again.
"""

from __future__ import annotations

import hashlib
import math
import time
from typing import Annotated

from fastapi import Depends, Request
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from xtrack.config import Settings
from xtrack.errors import RateLimited


def _redis_uri(url: str) -> str:
    return url if url.startswith("async+") else f"async+{url}"


def _key_part(value: str) -> str:
    """Emails are personal data: the shared store only ever sees a digest of them."""
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]


class RateLimiter:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._strategy = MovingWindowRateLimiter(storage)

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        if settings.redis_url:
            return cls(RedisStorage(_redis_uri(settings.redis_url), implementation="redispy"))
        return cls(MemoryStorage())

    async def check(
        self,
        scope: str,
        limit: str,
        *,
        ip: str | None = None,
        email: str | None = None,
        user_id: int | None = None,
        reason: str = "Too many attempts.",
    ) -> None:
        """Count one attempt for ``scope`` against each key given (the IP, the email, the user);
        RateLimited when any is over ``limit``, its message ``reason`` and when to try again."""
        keys = [
            ("ip", ip),
            ("email", _key_part(email) if email else None),
            ("user", str(user_id) if user_id is not None else None),
        ]
        _raise_if_waiting(await self._hit(scope, parse(limit), keys), reason)

    async def check_signin(self, settings: Settings, *, email: str, ip: str) -> None:
        """A sign-in attempt (or a password check): counted per account *and client address*
        (``XTRACK_SIGNIN_RATE_LIMIT``), so guesses from elsewhere never lock the owner out, and per
        address over every account (``XTRACK_SIGNIN_ADDRESS_RATE_LIMIT``, the ceiling)."""
        per_account = parse(settings.signin_rate_limit)
        waits = await self._hit("signin", per_account, [("email_ip", f"{_key_part(email)}@{ip}")])
        waits = max(waits, await self._hit("signin", parse(settings.signin_address_rate_limit), [("ip", ip)]))
        _raise_if_waiting(waits, "Too many attempts.")

    async def _hit(self, scope: str, item: RateLimitItem, keys: list[tuple[str, str | None]]) -> int:
        """Count one hit per key; the seconds to wait before the fullest key allows another (0: none)."""
        retry_after = 0
        for kind, value in keys:
            if not value:
                continue
            if not await self._strategy.hit(item, scope, kind, value):
                retry_after = max(retry_after, await self._retry_after(item, scope, kind, value))
        return retry_after

    async def _retry_after(self, item: RateLimitItem, *identifiers: str) -> int:
        stats = await self._strategy.get_window_stats(item, *identifiers)
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def clear(self, scope: str, limit: str, *, ip: str | None = None, email: str | None = None) -> None:
        """Forget the attempts counted for these keys (e.g. an admin unblocking a user)."""
        item = parse(limit)
        for kind, value in [("ip", ip), ("email", _key_part(email) if email else None)]:
            if value:
                await self._strategy.clear(item, scope, kind, value)


def _raise_if_waiting(retry_after: int, reason: str) -> None:
    if retry_after:
        raise RateLimited(f"{reason} Try again in {_words(retry_after)}.", retry_after=retry_after)


def _words(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minutes"


def client_ip(request: Request) -> str:
    """The client's address. Behind a proxy listed in ``XTRACK_FORWARDED_ALLOW_IPS``, uvicorn (given
    that setting by ``xtrack serve`` / ``xtrack web``) has already put the X-Forwarded-For client
    here in place of the proxy; from any other peer the header is ignored, so it cannot be forged."""
    return request.client.host if request.client else "unknown"


async def get_rate_limiter(request: Request) -> RateLimiter:
    """The app's limiter, created on first use from the app's settings."""
    state = request.app.state
    limiter: RateLimiter | None = getattr(state, "rate_limiter", None)
    if limiter is None:
        limiter = RateLimiter.from_settings(state.settings)
        state.rate_limiter = limiter
    return limiter


RateLimiterDep = Annotated[RateLimiter, Depends(get_rate_limiter)]
