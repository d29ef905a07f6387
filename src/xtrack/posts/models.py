"""The posts store's tables: followed accounts (``x_accounts``), stored posts (``posts``) and the
shared rate-limit state of each source (``source_limits``)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from xtrack.db import Base, JSONType, UTCDateTime, utcnow


class AccountState(StrEnum):
    OK = "ok"
    NOT_FOUND = "not_found"
    PROTECTED = "protected"
    SUSPENDED = "suspended"


class XAccount(Base):
    """One followed account (on X, Bluesky or Mastodon: ``network``) per source, shared by every
    job that follows it. ``username`` is the account's stored form (``sources.handles``)."""

    __tablename__ = "x_accounts"
    __table_args__ = (
        UniqueConstraint("source", "network", "username"),
        CheckConstraint("state IN ('ok', 'not_found', 'protected', 'suspended')", name="state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    network: Mapped[str] = mapped_column(String(16), default="x", server_default="x")
    username: Mapped[str] = mapped_column(String(300))  # lower-case: handles are case-insensitive
    external_id: Mapped[str | None] = mapped_column(String(32))
    display_name: Mapped[str | None] = mapped_column(String(100))
    newest_post_id: Mapped[str | None] = mapped_column(String(32))
    covered_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fetch_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16), default=AccountState.OK.value)
    etag: Mapped[str | None] = mapped_column(String(255))
    last_modified: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StoredPost(Base):
    """A fetched post as stored (``sources.base.Post`` is the post a source returns).

    ``sort_key`` orders posts of one account (X ids are 64-bit snowflakes)."""

    __tablename__ = "posts"
    __table_args__ = (
        UniqueConstraint("account_id", "external_id"),
        Index("ix_posts_account_id_sort_key", "account_id", "sort_key"),
        Index("ix_posts_account_id_created_at", "account_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("x_accounts.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(32))
    sort_key: Mapped[int] = mapped_column(BigInteger)
    author_username: Mapped[str] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(Text)
    url: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    metrics: Mapped[dict[str, int]] = mapped_column(JSONType, default=dict)
    is_repost: Mapped[bool] = mapped_column(Boolean, default=False)
    is_reply: Mapped[bool] = mapped_column(Boolean, default=False)
    is_quote: Mapped[bool] = mapped_column(Boolean, default=False)
    # A repost stores the original's full text in ``text`` and its author here; a quote keeps the
    # quoted post's full text and author beside its own (so a summary can say who said what).
    original_author: Mapped[str | None] = mapped_column(String(300))
    quoted_author: Mapped[str | None] = mapped_column(String(300))
    quoted_text: Mapped[str | None] = mapped_column(Text)
    raw: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SourceLimit(Base):
    """Shared rate-limit state of one source, read by every process before it calls."""

    __tablename__ = "source_limits"

    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    rate_limited_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    remaining: Mapped[int | None] = mapped_column(Integer)
    # Credits used up or the monthly cap reached: no process calls the source before this (an
    # operator can lift it with ``xtrack sources resume``); the reason is what runs and pages say.
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pause_reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
