"""Outbox rows (``notification_deliveries``) as values, one per recipient (``outbox`` inserts them)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from xtrack.notify import notices
from xtrack.notify.content import Message
from xtrack.notify.models import DeliveryKind, DeliveryStatus


def delivery_rows(
    recipients: Sequence[notices.Recipient],
    *,
    job_id: int,
    execution_id: int,
    kind: DeliveryKind,
    message: Callable[[notices.Recipient], Message],
    now: datetime,
    summary_id: int | None = None,
) -> list[dict[str, Any]]:
    """One PENDING outbox row per recipient, due at ``now``, carrying ``message(recipient)``."""
    return [
        {
            "target_id": recipient.target_id,
            "job_id": job_id,
            "execution_id": execution_id,
            "summary_id": summary_id,
            "kind": kind.value,
            "status": DeliveryStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "payload": message(recipient).as_payload(),
        }
        for recipient in recipients
    ]
