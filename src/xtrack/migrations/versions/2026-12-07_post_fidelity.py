"""whole posts: the repost's original author and the quoted post beside a post; a source paused
until its quota resets; what each run cost upstream

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import xtrack.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("posts") as batch:
        batch.add_column(sa.Column("original_author", sa.String(15), nullable=True))
        batch.add_column(sa.Column("quoted_author", sa.String(15), nullable=True))
        batch.add_column(sa.Column("quoted_text", sa.Text(), nullable=True))
    with op.batch_alter_table("source_limits") as batch:
        batch.add_column(sa.Column("paused_until", xtrack.db.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("pause_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("job_executions") as batch:
        batch.add_column(sa.Column("source_requests", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("posts_read", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("source_cost_usd", sa.Float(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("gap_note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("job_executions") as batch:
        batch.drop_column("gap_note")
        batch.drop_column("source_cost_usd")
        batch.drop_column("posts_read")
        batch.drop_column("source_requests")
    with op.batch_alter_table("source_limits") as batch:
        batch.drop_column("pause_reason")
        batch.drop_column("paused_until")
    with op.batch_alter_table("posts") as batch:
        batch.drop_column("quoted_text")
        batch.drop_column("quoted_author")
        batch.drop_column("original_author")
