"""Notification tables: where a user's notifications go (targets), which jobs use which target,
and the outbox of deliveries the sender works through."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from xtrack.db import Base, JSONType, UTCDateTime, utcnow


class TargetKind(StrEnum):
    EMAIL = "email"
    APPRISE = "apprise"


class DeliveryKind(StrEnum):
    SUMMARY = "summary"
    FAILURE = "failure"
    RECOVERY = "recovery"
    TEST = "test"
    BUDGET_WARNING = "budget_warning"  # 80 % of the month's budget spent (once a month)
    BUDGET_REACHED = "budget_reached"  # 100 % (once a month)


class DeliveryStatus(StrEnum):
    PENDING = "PENDING"
    SENT = "SENT"
    FAILED = "FAILED"


class NotificationTarget(Base):
    """One place a user's notifications go: their verified email address, or an apprise URL."""

    __tablename__ = "notification_targets"
    __table_args__ = (
        CheckConstraint("kind IN ('email', 'apprise')", name="kind"),
        CheckConstraint(
            "(kind = 'email' AND email IS NOT NULL) OR (kind = 'apprise' AND url IS NOT NULL)",
            name="destination",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    # The apprise URL holds the channel's secrets (bot tokens, webhook keys): stored encrypted
    # (``xtrack.crypto``, a Fernet token), decrypted only to send; pages show ``url_masked``
    # (``masking.mask_url`` of it, computed when it is saved), so showing a target needs no key.
    url: Mapped[str | None] = mapped_column(Text)
    url_masked: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(String(320))
    is_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class JobNotificationTarget(Base):
    """A job sends to a target; ``is_enabled`` false once the recipient unsubscribed."""

    __tablename__ = "job_notification_targets"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    target_id: Mapped[int] = mapped_column(
        ForeignKey("notification_targets.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    is_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class NotificationDelivery(Base):
    """One message to one target: written PENDING (the outbox), then SENT or, out of attempts, FAILED.

    ``payload`` keeps the rendered message so a delivery is reproducible after the summary changes or
    goes away. ``claimed_until`` is the lease of the sender working on it (no double sends)."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('summary', 'failure', 'recovery', 'test', 'budget_warning', 'budget_reached')",
            name="kind",
        ),
        CheckConstraint("status IN ('PENDING', 'SENT', 'FAILED')", name="status"),
        # An execution notifies a target at most once per kind.
        UniqueConstraint("target_id", "execution_id", "kind"),
        Index("ix_notification_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_notification_deliveries_job_id_id", "job_id", "id"),
        Index("ix_notification_deliveries_target_id_id", "target_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("notification_targets.id", ondelete="CASCADE"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    execution_id: Mapped[int | None] = mapped_column(
        ForeignKey("job_executions.id", ondelete="SET NULL"), index=True
    )
    summary_id: Mapped[int | None] = mapped_column(
        ForeignKey("summaries.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
