"""budgets: a user's monthly budget and what happens when it is reached, and which of the month's
budget notices (80 %, 100 %) went out; the two budget notices as delivery kinds

Revision ID: 0008
Revises: 0005
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS_BEFORE = "kind IN ('summary', 'failure', 'recovery', 'test')"
_KINDS_AFTER = "kind IN ('summary', 'failure', 'recovery', 'test', 'budget_warning', 'budget_reached')"


def _is_sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    # Plain ADD COLUMN, not a batch rebuild: rebuilding ``users`` on SQLite drops the old table, and
    # every row that references a user (jobs, targets, ...) would go with it (ON DELETE CASCADE).
    op.add_column("users", sa.Column("monthly_budget_usd", sa.Float(), nullable=True))
    op.add_column(
        "users", sa.Column("budget_action", sa.String(8), nullable=False, server_default="offline")
    )
    op.add_column("users", sa.Column("budget_notice_month", sa.String(7), nullable=True))
    op.add_column(
        "users", sa.Column("budget_notice_percent", sa.Integer(), nullable=False, server_default="0")
    )
    if not _is_sqlite():  # SQLite cannot add a constraint without that rebuild; the service validates
        op.create_check_constraint("budget_action", "users", "budget_action IN ('offline', 'pause')")
    # Nothing references notification_deliveries, so its rebuild on SQLite loses nothing.
    with op.batch_alter_table("notification_deliveries") as batch:
        batch.drop_constraint("kind", type_="check")
        batch.create_check_constraint("kind", _KINDS_AFTER)


def downgrade() -> None:
    op.execute("DELETE FROM notification_deliveries WHERE kind IN ('budget_warning', 'budget_reached')")
    with op.batch_alter_table("notification_deliveries") as batch:
        batch.drop_constraint("kind", type_="check")
        batch.create_check_constraint("kind", _KINDS_BEFORE)
    if not _is_sqlite():
        op.drop_constraint("budget_action", "users", type_="check")
    for column in ("budget_notice_percent", "budget_notice_month", "budget_action", "monthly_budget_usd"):
        if _is_sqlite():  # ALTER TABLE ... DROP COLUMN (SQLite 3.35+), again without a rebuild
            op.execute(f"ALTER TABLE users DROP COLUMN {column}")
        else:
            op.drop_column("users", column)
