"""Can this instance reach the open networks its jobs follow? One cheap lookup per network (Bluesky:
the AppView; Mastodon: each server a job names, or the one XTRACK_MASTODON_BASE_URL sets), only
for the networks active jobs use. ``xtrack doctor`` and the connect page show the same lines."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xtrack.config import Settings
from xtrack.jobs.models import Job, JobAccount
from xtrack.observability import redact_text
from xtrack.sources.base import (
    AccountNotFound,
    AccountUnavailable,
    RequestRejected,
    Source,
    SourceError,
    SourceRateLimited,
)
from xtrack.sources.bluesky import BlueskySource
from xtrack.sources.handles import Network, network_of
from xtrack.sources.mastodon import MastodonSource

CHECK_TIMEOUT = 8.0
MAX_SERVERS = 5  # Mastodon servers checked at most (one lookup each)


@dataclass(frozen=True, slots=True)
class NetworkCheck:
    """One line: the network (and server), reachable or not, what was seen, what to do."""

    name: str
    ok: bool
    detail: str
    hint: str = ""


async def accounts_in_use(session: AsyncSession, *, user_id: int | None = None) -> dict[Network, list[str]]:
    """The Bluesky and Mastodon accounts active jobs follow (of one user, or of everyone)."""
    query = select(JobAccount.account).join(Job, Job.id == JobAccount.job_id).where(Job.is_active.is_(True))
    if user_id is not None:
        query = query.where(Job.user_id == user_id)
    found: dict[Network, list[str]] = {}
    for account in dict.fromkeys((await session.scalars(query.distinct())).all()):
        network = network_of(account)
        if network is not Network.X:
            found.setdefault(network, []).append(account.lower())
    return found


def probes(settings: Settings, accounts: dict[Network, list[str]]) -> list[tuple[str, Network, str]]:
    """(line name, network, account to look up): one per network, one per Mastodon server."""
    lines: list[tuple[str, Network, str]] = []
    if accounts.get(Network.BLUESKY):
        lines.append((f"Bluesky ({settings.bluesky_api_url})", Network.BLUESKY, accounts[Network.BLUESKY][0]))
    mastodon = accounts.get(Network.MASTODON) or []
    if settings.mastodon_base_url and mastodon:
        lines.append((f"Mastodon ({settings.mastodon_base_url})", Network.MASTODON, mastodon[0]))
    else:
        servers = dict.fromkeys(account.partition("@")[2] for account in mastodon)
        for server in list(servers)[:MAX_SERVERS]:
            first = next(account for account in mastodon if account.endswith(f"@{server}"))
            lines.append((f"Mastodon ({server})", Network.MASTODON, first))
    return lines


async def _probe(source: Source, name: str, account: str) -> NetworkCheck:
    label = name.split(" ", 1)[0]
    try:
        await asyncio.wait_for(source.resolve(account), CHECK_TIMEOUT)
    except (AccountNotFound, AccountUnavailable) as exc:
        return NetworkCheck(name, True, f"reachable (@{account}: {redact_text(exc.message)})")
    except SourceRateLimited as exc:
        return NetworkCheck(name, True, f"reachable, rate limited until {exc.reset_at:%H:%M} UTC")
    except RequestRejected as exc:
        hint = (
            "XTRACK_OUTBOUND_ALLOW_PRIVATE=true allows private addresses" if "address" in exc.message else ""
        )
        return NetworkCheck(name, False, redact_text(exc.message)[:300], hint)
    except (SourceError, TimeoutError) as exc:
        message = exc.message if isinstance(exc, SourceError) else f"no answer within {CHECK_TIMEOUT:g} s"
        return NetworkCheck(
            name, False, redact_text(message)[:300], f"check the network and {label}'s status"
        )
    return NetworkCheck(name, True, f"reachable (looked up @{account})")


async def check_networks(settings: Settings, accounts: dict[Network, list[str]]) -> list[NetworkCheck]:
    """One line per network (and Mastodon server) the accounts are on; none for X (the source
    check covers it) or with the demo source (it plays every network offline)."""
    lines = probes(settings, accounts)
    if settings.source == "demo" or not lines:
        return []
    common = {
        "public_url": settings.base_url,
        "timeout": CHECK_TIMEOUT,
        "max_retries": 0,
        "max_connections": 4,
    }
    bluesky = BlueskySource(base_url=settings.bluesky_api_url, **common)  # type: ignore[arg-type]
    mastodon = MastodonSource(
        base_url=settings.mastodon_base_url,
        allow_private=settings.allow_private_outbound,
        **common,  # type: ignore[arg-type]
    )
    sources: dict[Network, Source] = {Network.BLUESKY: bluesky, Network.MASTODON: mastodon}
    try:
        return list(
            await asyncio.gather(
                *(_probe(sources[network], name, account) for name, network, account in lines)
            )
        )
    finally:
        await bluesky.aclose()
        await mastodon.aclose()
