from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, text, true
from sqlalchemy.orm import Mapped, mapped_column

from xtrack.db import Base, JSONType, UTCDateTime, utcnow


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint("frequency >= 15", name="frequency_min"),
        CheckConstraint("failure_threshold >= 1", name="failure_threshold_min"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    x_username: Mapped[str] = mapped_column(String(300))
    frequency: Mapped[int] = mapped_column(Integer)  # minutes between runs
    topics: Mapped[list[str]] = mapped_column(JSONType, default=list)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_run: Mapped[datetime | None] = mapped_column(UTCDateTime)
    language: Mapped[str] = mapped_column(String(35), default="en")
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    last_post_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Notifications (xtrack.notify): a notice after ``failure_threshold`` consecutive failed runs,
    # sent once (``failure_notified_at`` set), and a recovery notice when a run completes again.
    notify_on_failure: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    failure_threshold: Mapped[int] = mapped_column(Integer, default=3, server_default=text("3"))
    failure_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A briefing's schedule at a local time (``jobs.schedule.next_daily_run``): ``daily_at`` "HH:MM"
    # on ``days`` (None: every day) in ``timezone``; None keeps the interval of ``frequency``.
    daily_at: Mapped[str | None] = mapped_column(String(5))
    days: Mapped[list[str] | None] = mapped_column(JSONType)
    timezone: Mapped[str | None] = mapped_column(String(64))
    # What a run drops before any summarizer (``jobs.filters``); None or {} keeps every post.
    filters: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # Consecutive failed runs per followed account (lower-case) and whether the owner was told.
    account_failures: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


class JobAccount(Base):
    """The accounts a job follows, in the order the owner gave them (position 0 is ``x_username``)."""

    __tablename__ = "job_accounts"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    account: Mapped[str] = mapped_column(String(300))
