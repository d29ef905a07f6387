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
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS_BEFORE = "kind IN ('summary', 'failure', 'recovery', 'test')"
_KINDS_AFTER = "kind IN ('summary', 'failure', 'recovery', 'test', 'budget_warning', 'budget_reached')"


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("monthly_budget_usd", sa.Float(), nullable=True))
        batch.add_column(
            sa.Column("budget_action", sa.String(8), nullable=False, server_default="offline")
        )
        batch.add_column(sa.Column("budget_notice_month", sa.String(7), nullable=True))
        batch.add_column(
            sa.Column("budget_notice_percent", sa.Integer(), nullable=False, server_default="0")
        )
        batch.create_check_constraint("budget_action", "budget_action IN ('offline', 'pause')")
    with op.batch_alter_table("notification_deliveries") as batch:
        batch.drop_constraint("kind", type_="check")
        batch.create_check_constraint("kind", _KINDS_AFTER)


def downgrade() -> None:
    op.execute("DELETE FROM notification_deliveries WHERE kind IN ('budget_warning', 'budget_reached')")
    with op.batch_alter_table("notification_deliveries") as batch:
        batch.drop_constraint("kind", type_="check")
        batch.create_check_constraint("kind", _KINDS_BEFORE)
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("budget_action", type_="check")
        batch.drop_column("budget_notice_percent")
        batch.drop_column("budget_notice_month")
        batch.drop_column("budget_action")
        batch.drop_column("monthly_budget_usd")
