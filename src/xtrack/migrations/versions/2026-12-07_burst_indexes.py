"""partial indexes for the playground's quota check (one indexed read per accepted run)

Revision ID: 0007
Revises: 0004
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PLAYGROUND = "trigger = 'PLAYGROUND'"
ACTIVE_PLAYGROUND = f"{PLAYGROUND} AND status IN ('QUEUED', 'RUNNING')"


def upgrade() -> None:
    op.create_index(
        "ix_job_executions_playground_created",
        "job_executions",
        ["user_id", "created_at"],
        sqlite_where=sa.text(PLAYGROUND),
        postgresql_where=sa.text(PLAYGROUND),
    )
    op.create_index(
        "ix_job_executions_playground_active",
        "job_executions",
        ["user_id"],
        sqlite_where=sa.text(ACTIVE_PLAYGROUND),
        postgresql_where=sa.text(ACTIVE_PLAYGROUND),
    )


def downgrade() -> None:
    op.drop_index("ix_job_executions_playground_active", table_name="job_executions")
    op.drop_index("ix_job_executions_playground_created", table_name="job_executions")
