"""networks: a followed account's network (x, bluesky, mastodon), unique per source, network and
account; account columns wide enough for a Bluesky handle or a Mastodon user@server

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

Existing accounts are X (``network`` defaults to 'x'). The unique key becomes (source, network,
username): one row per followed account and source, as before, now also per network. It keeps the
source because the same X handle may have a row under each X provider (x, twitterapi, rss).

SQLite: ``x_accounts`` is rebuilt to replace its unique constraint; that rebuild drops the old table,
which deletes its posts (ON DELETE CASCADE with foreign keys on), so the posts are kept aside in a
temporary table and put back. The other widened columns are not rebuilt on SQLite (it does not
enforce VARCHAR lengths; the migration environment ignores a length difference there).

Downgrade: the accounts of the other networks (and their posts) are deleted, the network column
and the new key go; the widened columns stay wide (narrowing them could fail on, or cut, a
Bluesky or Mastodon handle a job still names; every X handle fits either way).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WIDE = 300
_WIDENED = (
    ("posts", "author_username", False),
    ("posts", "original_author", True),
    ("posts", "quoted_author", True),
    ("jobs", "x_username", False),
    ("job_accounts", "account", False),
    ("summaries", "x_username", True),
)


def _is_sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _rebuild_accounts_keeping_posts(change: str) -> None:
    """SQLite: rebuild ``x_accounts`` (``change``: "upgrade" or "downgrade") with its posts kept."""
    op.execute("CREATE TEMPORARY TABLE _networks_posts AS SELECT * FROM posts")
    with op.batch_alter_table("x_accounts", recreate="always") as batch:
        if change == "upgrade":
            batch.alter_column("username", type_=sa.String(WIDE), existing_nullable=False)
            batch.drop_constraint("uq_x_accounts_source_username", type_="unique")
            batch.create_unique_constraint(
                "uq_x_accounts_source_network_username", ["source", "network", "username"]
            )
        else:
            batch.drop_constraint("uq_x_accounts_source_network_username", type_="unique")
            batch.drop_column("network")
            batch.create_unique_constraint("uq_x_accounts_source_username", ["source", "username"])
    op.execute("DELETE FROM posts")  # whatever the cascade left: the kept copy is complete
    op.execute("INSERT INTO posts SELECT * FROM _networks_posts")
    op.execute("DROP TABLE _networks_posts")


def upgrade() -> None:
    op.add_column(
        "x_accounts", sa.Column("network", sa.String(16), nullable=False, server_default="x")
    )
    if _is_sqlite():
        _rebuild_accounts_keeping_posts("upgrade")
        return
    op.alter_column("x_accounts", "username", type_=sa.String(WIDE), existing_nullable=False)
    op.drop_constraint("uq_x_accounts_source_username", "x_accounts", type_="unique")
    op.create_unique_constraint(
        "uq_x_accounts_source_network_username", "x_accounts", ["source", "network", "username"]
    )
    for table, column, nullable in _WIDENED:
        op.alter_column(table, column, type_=sa.String(WIDE), existing_nullable=nullable)


def downgrade() -> None:
    op.execute("DELETE FROM posts WHERE account_id IN (SELECT id FROM x_accounts WHERE network <> 'x')")
    op.execute("DELETE FROM x_accounts WHERE network <> 'x'")
    if _is_sqlite():
        _rebuild_accounts_keeping_posts("downgrade")
        return
    op.drop_constraint("uq_x_accounts_source_network_username", "x_accounts", type_="unique")
    op.create_unique_constraint("uq_x_accounts_source_username", "x_accounts", ["source", "username"])
    op.drop_column("x_accounts", "network")
