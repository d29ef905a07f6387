from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, CheckConstraint, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from xtrack.db import Base, UTCDateTime, utcnow


class UserStatus(StrEnum):
    UNVERIFIED = "UNVERIFIED"
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"


class Theme(StrEnum):
    SYSTEM = "system"
    LIGHT = "light"
    DARK = "dark"


class BudgetAction(StrEnum):
    """What happens to a user's runs once the month's budget is spent."""

    OFFLINE = "offline"  # the offline (extractive) summarizer: no LLM tokens
    PAUSE = "pause"  # scheduled runs are cancelled, manual and playground runs refused


class EmailTokenPurpose(StrEnum):
    VERIFY = "verify"
    RESET = "reset"
    LOGIN = "login"


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("status IN ('UNVERIFIED', 'ACTIVE', 'SUSPENDED')", name="status"),
        CheckConstraint("theme IN ('system', 'light', 'dark')", name="theme"),
        CheckConstraint("budget_action IN ('offline', 'pause')", name="budget_action"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default=UserStatus.UNVERIFIED.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    theme: Mapped[str] = mapped_column(String(8), default=Theme.SYSTEM.value)
    # US dollars per calendar month in ``timezone`` (None: no limit); set from
    # XTRACK_DEFAULT_MONTHLY_BUDGET_USD at sign-up, changed with PATCH /api/v1/me.
    monthly_budget_usd: Mapped[float | None] = mapped_column(Float)
    budget_action: Mapped[str] = mapped_column(String(8), default=BudgetAction.OFFLINE.value)
    # The month ("2026-12") and the highest budget notice (80, 100) already sent in it.
    budget_notice_month: Mapped[str | None] = mapped_column(String(7))
    budget_notice_percent: Mapped[int] = mapped_column(Integer, default=0)

    @property
    def is_active(self) -> bool:
        return self.status == UserStatus.ACTIVE.value


class WebSession(Base):
    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    user_agent: Mapped[str | None] = mapped_column(String(255))


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EmailToken(Base):
    __tablename__ = "email_tokens"
    __table_args__ = (
        CheckConstraint("purpose IN ('verify', 'reset', 'login')", name="purpose"),
        Index("ix_email_tokens_user_id_purpose", "user_id", "purpose"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class FeedToken(Base):
    """A private, revocable Atom feed address of one user (only the token's hash is stored). A
    credential like the API tokens, so it lives here and goes with them (``auth.revoke_all_credentials``);
    the feeds themselves are ``xtrack.summaries.feeds``."""

    __tablename__ = "feed_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
