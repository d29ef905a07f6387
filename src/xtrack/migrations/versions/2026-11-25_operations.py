"""operations: feed tokens, scheduler heartbeats, the maintenance lease, an index for retention

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import xtrack.db
from sqlalchemy.dialects import postgresql

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('maintenance_runs',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('holder', sa.String(length=64), nullable=True),
    sa.Column('lease_until', xtrack.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_started_at', xtrack.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_finished_at', xtrack.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_result', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_maintenance_runs'))
    )
    op.create_table('scheduler_heartbeats',
    sa.Column('instance_id', sa.String(length=64), nullable=False),
    sa.Column('hostname', sa.String(length=255), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('started_at', xtrack.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('beat_at', xtrack.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('instance_id', name=op.f('pk_scheduler_heartbeats'))
    )
    op.create_table('feed_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('created_at', xtrack.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', xtrack.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_feed_tokens_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feed_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_feed_tokens_token_hash'))
    )
    with op.batch_alter_table('feed_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feed_tokens_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('job_executions', schema=None) as batch_op:
        batch_op.create_index('ix_job_executions_retry_of_id', ['retry_of_id'], unique=False, sqlite_where=sa.text('retry_of_id IS NOT NULL'), postgresql_where=sa.text('retry_of_id IS NOT NULL'))


def downgrade() -> None:
    with op.batch_alter_table('job_executions', schema=None) as batch_op:
        batch_op.drop_index('ix_job_executions_retry_of_id', sqlite_where=sa.text('retry_of_id IS NOT NULL'), postgresql_where=sa.text('retry_of_id IS NOT NULL'))

    with op.batch_alter_table('feed_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feed_tokens_user_id'))

    op.drop_table('feed_tokens')
    op.drop_table('scheduler_heartbeats')
    op.drop_table('maintenance_runs')