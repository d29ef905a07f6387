from __future__ import annotations

from datetime import datetime

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
    x_username: Mapped[str] = mapped_column(String(15))
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
