"""briefings: the accounts of a job (job_accounts), a schedule at a local time, filters, and what a
run over many accounts records (posts kept, warnings, per-account counts)

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "job_accounts",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(length=15), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_job_accounts_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("job_id", "position", name=op.f("pk_job_accounts")),
    )
    # Every existing job follows its one account, at position 0.
    op.execute("INSERT INTO job_accounts (job_id, position, account) SELECT id, 0, x_username FROM jobs")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("daily_at", sa.String(length=5), nullable=True))
        batch_op.add_column(sa.Column("days", _JSON, nullable=True))
        batch_op.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("filters", _JSON, nullable=True))
        batch_op.add_column(sa.Column("account_failures", _JSON, nullable=True))
    with op.batch_alter_table("job_executions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("posts_summarized", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("warnings", _JSON, nullable=True))
        batch_op.add_column(sa.Column("accounts", _JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("job_executions", schema=None) as batch_op:
        batch_op.drop_column("accounts")
        batch_op.drop_column("warnings")
        batch_op.drop_column("posts_summarized")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("account_failures")
        batch_op.drop_column("filters")
        batch_op.drop_column("timezone")
        batch_op.drop_column("days")
        batch_op.drop_column("daily_at")
    op.drop_table("job_accounts")
