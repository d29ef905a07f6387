"""notification target URLs encrypted at rest, with their masked form kept for display

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from xtrack import crypto
from xtrack.config import get_settings
from xtrack.notify import masking

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

targets = sa.table(
    "notification_targets",
    sa.column("id", sa.Integer),
    sa.column("url", sa.Text),
    sa.column("url_masked", sa.Text),
)


def _stored_urls() -> list[tuple[int, str]]:
    rows = op.get_bind().execute(sa.select(targets.c.id, targets.c.url).where(targets.c.url.is_not(None)))
    return [(row.id, row.url) for row in rows]


def upgrade() -> None:
    with op.batch_alter_table("notification_targets") as batch:
        batch.add_column(sa.Column("url_masked", sa.Text(), nullable=True))
    rows = _stored_urls()
    if not rows:
        return
    cipher = crypto.cipher_for(get_settings())  # the keys of the processes that will read them
    for target_id, url in rows:
        plain = cipher.decrypt(url) if url.startswith(crypto.TOKEN_PREFIX) else url
        op.get_bind().execute(
            targets.update()
            .where(targets.c.id == target_id)
            .values(url=cipher.encrypt(plain), url_masked=masking.mask_url(plain))
        )


def downgrade() -> None:
    rows = _stored_urls()
    if rows:
        cipher = crypto.cipher_for(get_settings())
        for target_id, url in rows:
            if url.startswith(crypto.TOKEN_PREFIX):
                op.get_bind().execute(
                    targets.update().where(targets.c.id == target_id).values(url=cipher.decrypt(url))
                )
    with op.batch_alter_table("notification_targets") as batch:
        batch.drop_column("url_masked")
