from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from xtrack.db import Base, JSONType, UTCDateTime, utcnow


class Summary(Base):
    __tablename__ = "summaries"
    __table_args__ = (
        Index("ix_summaries_job_id_id", "job_id", "id"),
        Index("ix_summaries_user_id_id", "user_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    execution_id: Mapped[int | None] = mapped_column(
        ForeignKey("job_executions.id", ondelete="SET NULL"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    is_playground: Mapped[bool] = mapped_column(Boolean, default=False)
    x_username: Mapped[str | None] = mapped_column(String(300))
    topics: Mapped[list[str] | None] = mapped_column(JSONType)
    hours_back: Mapped[int | None] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text)
    tweets_count: Mapped[int] = mapped_column(Integer, default=0)
    raw_data: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    model: Mapped[str | None] = mapped_column(String(100))
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[float] = mapped_column(Float, default=0.0)  # US dollars

    @property
    def accounts(self) -> list[str]:
        """The accounts the summary covers: a briefing's (``raw_data``), else its one account."""
        found = (self.raw_data or {}).get("accounts")
        if isinstance(found, list) and found:
            return [str(name) for name in found]
        return [self.x_username] if self.x_username else []

    @property
    def who(self) -> str:
        """``@alice``, or ``@alice, @bob and 3 more`` for a briefing."""
        names = [f"@{name}" for name in self.accounts]
        if len(names) <= 1:
            return names[0] if names else "Summary"
        shown = names[:2] if len(names) > 3 else names[:-1]
        rest = len(names) - len(shown)
        return f"{', '.join(shown)} and " + (names[-1] if rest == 1 else f"{rest} more")
