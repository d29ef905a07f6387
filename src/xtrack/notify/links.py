"""Links put in notifications, and the signed unsubscribe token.

The unsubscribe token signs ``(target_id, job_id)`` with the app's secret key (itsdangerous, its own
salt), so the link disables exactly that target for exactly that job, works without signing in and
cannot be edited into another pair. It does not expire: an old email's link keeps working.
"""

from __future__ import annotations

from urllib.parse import quote

from itsdangerous import BadSignature, URLSafeSerializer

from xtrack.config import Settings

_SALT = "xtrack.notify.unsubscribe"


class InvalidUnsubscribeToken(Exception):
    """The token was not made by this XTrack (tampered, truncated, or another secret key)."""


def _serializer(settings: Settings) -> URLSafeSerializer:
    return URLSafeSerializer(settings.signing_key(), salt=_SALT)


def unsubscribe_token(settings: Settings, *, target_id: int, job_id: int) -> str:
    return _serializer(settings).dumps([int(target_id), int(job_id)])


def read_unsubscribe_token(settings: Settings, token: str) -> tuple[int, int]:
    """(target_id, job_id) of a token made by ``unsubscribe_token``; InvalidUnsubscribeToken otherwise."""
    try:
        data = _serializer(settings).loads(token or "")
    except BadSignature:
        raise InvalidUnsubscribeToken("This unsubscribe link is not valid.") from None
    if (
        not isinstance(data, list)
        or len(data) != 2
        or not all(isinstance(item, int) and not isinstance(item, bool) for item in data)
    ):
        raise InvalidUnsubscribeToken("This unsubscribe link is not valid.")
    return data[0], data[1]


def unsubscribe_url(settings: Settings, *, target_id: int, job_id: int) -> str:
    token = unsubscribe_token(settings, target_id=target_id, job_id=job_id)
    return f"{settings.base_url}/unsubscribe?token={quote(token)}"


def summary_url(settings: Settings, summary_id: int) -> str:
    return f"{settings.base_url}/summaries/{summary_id}"


def job_url(settings: Settings, job_id: int) -> str:
    return f"{settings.base_url}/jobs/{job_id}"


def targets_url(settings: Settings) -> str:
    return f"{settings.base_url}/targets"
