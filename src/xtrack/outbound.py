"""The outbound guard: requests to a host a user chose (a notification target's webhook, a Mastodon
server) never reach this machine or the operator's network.

Two checks, the same rule (``refusal_reason``: loopback, private, link-local, carrier-grade NAT,
multicast, reserved and IPv4-mapped IPv6 addresses are refused unless XTRACK_OUTBOUND_ALLOW_PRIVATE):

- ``check_host`` when the user saves the address, so the refusal is a clear 422;
- ``guarded()`` around the send itself. Inside it, every name the current thread resolves through
  ``socket.getaddrinfo`` (requests/urllib3, smtplib and apprise's own sockets all do) is resolved
  once by ``resolve``, each address is checked, and the caller receives exactly the checked
  addresses, so it connects to what was checked: a name that was public when saved and points at
  loopback now (DNS rebinding) is refused at connect time, and so is every redirect hop.

The hook is installed on ``socket.getaddrinfo`` once per process and does nothing for threads that
are not inside ``guarded()`` (the event loop's resolver threads, the database drivers).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

ALLOW_SETTING = "XTRACK_OUTBOUND_ALLOW_PRIVATE"
_CARRIER_GRADE_NAT = ipaddress.ip_network("100.64.0.0/10")
_system_getaddrinfo = socket.getaddrinfo


class OutboundRefused(OSError):
    """XTrack will not contact this host; ``message`` is safe to show to the user.

    An OSError so that HTTP and mail clients treat it as a connection that failed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def refusal_reason(address: str) -> str | None:
    """Why ``address`` (an IP literal) must not be contacted, or None for a public address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone ("fe80::1%eth0") is no part of it
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return "an IPv4-mapped IPv6 address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (such as a cloud metadata service)"
    if ip.is_multicast:
        return "a multicast address"
    if ip in _CARRIER_GRADE_NAT:
        return "a carrier-grade NAT address"
    if ip.is_private:
        return "a private address"
    if ip.is_unspecified or ip.is_reserved or not ip.is_global:
        return "a reserved address"
    return None


def refusal_message(host: str, address: str, reason: str) -> str:
    # A name's address is not shown: it would tell a user what the operator's internal names resolve to.
    what = "it is" if host == address else "it resolves to"
    return (
        f"XTrack does not send to {host}: {what} {reason}. An operator can allow private addresses "
        f"(a self-hosted ntfy or Gotify) with {ALLOW_SETTING}=true."
    )


def resolve(host: str) -> list[str]:
    """The addresses ``host`` resolves to, by the system resolver (blocking; tests replace this)."""
    try:
        infos = _system_getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise OutboundRefused(f"XTrack could not find the host {host}.") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def checked_addresses(host: str, *, allow_private: bool) -> list[str]:
    """``host`` resolved once, each address checked: OutboundRefused naming the first refused one."""
    host = host.strip().strip("[]")
    if not host:
        raise OutboundRefused("The URL has no host.")
    addresses = resolve(host)
    if not allow_private:
        for address in addresses:
            reason = refusal_reason(address)
            if reason is not None:
                raise OutboundRefused(refusal_message(host, address, reason))
    return addresses


async def check_host(host: str, *, allow_private: bool) -> None:
    """The save-time check (the resolver blocks, so it runs in a thread)."""
    await asyncio.to_thread(checked_addresses, host, allow_private=allow_private)


# The send-time guard -------------------------------------------------------------------------------


@dataclass(slots=True)
class Guard:
    """One guarded send: whether private addresses are allowed, and the refusal if one happened
    (clients turn it into their own connection error, so the sender reads it from here)."""

    allow_private: bool
    refused: str | None = None


_current = threading.local()
_install_lock = threading.Lock()


def _guarded_getaddrinfo(
    host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
) -> list[Any]:
    guard: Guard | None = getattr(_current, "guard", None)
    if guard is None or host is None:
        return _system_getaddrinfo(host, port, family, type, proto, flags)
    name = host.decode() if isinstance(host, bytes) else str(host)
    try:
        addresses = checked_addresses(name, allow_private=guard.allow_private)
    except OutboundRefused as exc:
        guard.refused = exc.message
        raise
    results: list[Any] = []
    for address in addresses:
        # Numeric: no second lookup, the caller gets the very addresses that were checked.
        try:
            results += _system_getaddrinfo(address, port, family, type, proto, flags | socket.AI_NUMERICHOST)
        except socket.gaierror:
            continue  # an IPv6 address for an IPv4-only caller
    if not results:
        raise socket.gaierror(socket.EAI_NONAME, f"no usable address for {name}")
    return results


def _install() -> None:
    with _install_lock:
        if socket.getaddrinfo is not _guarded_getaddrinfo:
            socket.getaddrinfo = _guarded_getaddrinfo


@contextmanager
def guarded(*, allow_private: bool) -> Iterator[Guard]:
    """Within the block, this thread's connections go only to checked addresses (module docstring)."""
    _install()
    previous = getattr(_current, "guard", None)
    guard = Guard(allow_private=allow_private)
    _current.guard = guard
    try:
        yield guard
    finally:
        _current.guard = previous
