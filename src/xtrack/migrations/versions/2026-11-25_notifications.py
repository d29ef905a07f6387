"""notifications: targets, per-job selection, the deliveries outbox, failure-notice settings on jobs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import xtrack.db
from sqlalchemy.dialects import postgresql

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('notification_targets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('url', sa.Text(), nullable=True),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('is_enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', xtrack.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', xtrack.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(kind = 'email' AND email IS NOT NULL) OR (kind = 'apprise' AND url IS NOT NULL)", name=op.f('ck_notification_targets_destination')),
    sa.CheckConstraint("kind IN ('email', 'apprise')", name=op.f('ck_notification_targets_kind')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notification_targets_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_targets'))
    )
    with op.batch_alter_table('notification_targets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_targets_user_id'), ['user_id'], unique=False)

    op.create_table('job_notification_targets',
    sa.Column('job_id', sa.Integer(), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=False),
    sa.Column('is_enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', xtrack.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_job_notification_targets_job_id_jobs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['target_id'], ['notification_targets.id'], name=op.f('fk_job_notification_targets_target_id_notification_targets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('job_id', 'target_id', name=op.f('pk_job_notification_targets'))
    )
    with op.batch_alter_table('job_notification_targets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_job_notification_targets_target_id'), ['target_id'], unique=False)

    op.create_table('notification_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('execution_id', sa.Integer(), nullable=True),
    sa.Column('summary_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', xtrack.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('claimed_until', xtrack.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_attempt_at', xtrack.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('sent_at', xtrack.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', xtrack.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.CheckConstraint("kind IN ('summary', 'failure', 'recovery', 'test')", name=op.f('ck_notification_deliveries_kind')),
    sa.CheckConstraint("status IN ('PENDING', 'SENT', 'FAILED')", name=op.f('ck_notification_deliveries_status')),
    sa.ForeignKeyConstraint(['execution_id'], ['job_executions.id'], name=op.f('fk_notification_deliveries_execution_id_job_executions'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_notification_deliveries_job_id_jobs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['summary_id'], ['summaries.id'], name=op.f('fk_notification_deliveries_summary_id_summaries'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['target_id'], ['notification_targets.id'], name=op.f('fk_notification_deliveries_target_id_notification_targets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_deliveries')),
    sa.UniqueConstraint('target_id', 'execution_id', 'kind', name=op.f('uq_notification_deliveries_target_id_execution_id_kind'))
    )
    with op.batch_alter_table('notification_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_deliveries_execution_id'), ['execution_id'], unique=False)
        batch_op.create_index('ix_notification_deliveries_job_id_id', ['job_id', 'id'], unique=False)
        batch_op.create_index('ix_notification_deliveries_status_next_attempt_at', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_notification_deliveries_summary_id'), ['summary_id'], unique=False)
        batch_op.create_index('ix_notification_deliveries_target_id_id', ['target_id', 'id'], unique=False)

    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notify_on_failure', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column('failure_threshold', sa.Integer(), server_default=sa.text('3'), nullable=False))
        batch_op.add_column(sa.Column('failure_notified_at', xtrack.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_check_constraint(op.f('ck_jobs_failure_threshold_min'), 'failure_threshold >= 1')


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_jobs_failure_threshold_min'), type_='check')
        batch_op.drop_column('failure_notified_at')
        batch_op.drop_column('failure_threshold')
        batch_op.drop_column('notify_on_failure')

    with op.batch_alter_table('notification_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_notification_deliveries_target_id_id')
        batch_op.drop_index(batch_op.f('ix_notification_deliveries_summary_id'))
        batch_op.drop_index('ix_notification_deliveries_status_next_attempt_at')
        batch_op.drop_index('ix_notification_deliveries_job_id_id')
        batch_op.drop_index(batch_op.f('ix_notification_deliveries_execution_id'))

    op.drop_table('notification_deliveries')
    with op.batch_alter_table('job_notification_targets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_job_notification_targets_target_id'))

    op.drop_table('job_notification_targets')
    with op.batch_alter_table('notification_targets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notification_targets_user_id'))

    op.drop_table('notification_targets')
