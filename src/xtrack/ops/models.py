"""The operations tables: scheduler heartbeats (``/readyz``, the heartbeat gauge) and the leases of
periodic maintenance tasks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from xtrack.db import Base, JSONType, UTCDateTime, utcnow


class SchedulerHeartbeat(Base):
    """One row per running scheduler process, refreshed every tick (``/readyz`` reads the newest)."""

    __tablename__ = "scheduler_heartbeats"

    instance_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MaintenanceRun(Base):
    """A periodic maintenance task: its lease (who runs it now) and its last result."""

    __tablename__ = "maintenance_runs"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_result: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
