"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import xtrack.db
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('source_limits',
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('rate_limited_until', xtrack.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('remaining', sa.Integer(), nullable=True),
    sa.Column('updated_at', xtrack.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('source', name=op.f('pk_source_limits'))
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', xtrack.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', xtrack.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('is_admin', sa.Boolean(), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('theme', sa.String(length=8), nullable=False),
    sa.CheckConstraint("status IN ('UNVERIFIED', 'ACTIVE', 'SUSPENDED')", name=op.f('ck_users_status')),
    sa.CheckConstraint("theme IN ('system', 'light', 'dark')", name=op.f('ck_users_theme')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email', name=op.f('uq_users_email'))
    )
    op.create_table('x_accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('username', sa.String(length=15), nullable=False),
    sa.Column('external_id', sa.String(length=32), nullable=True),
    sa.Column('display_name', sa.String(length=100), nullable=True),
    sa.Column('newest_post_id', sa.String(length=32), nullable=True),
    sa.Column('covered_since', xtrack.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_fetched_at', xtrack.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('fetch_started_at', xtrack.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('etag', sa.String(length=255), nullable=True),
    sa.Column('last_modified', sa.String(length=64), nullable=True),
    sa.Column('created_at', xtrack.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("state IN ('ok', 'not_found', 'protected', 'suspended')", name=op.f('ck_x_accounts_state')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_x_accounts')),
    sa.UniqueConstraint('source', 'username', name=op.f('uq_x_accounts_source_username'))
    )
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('created_at', xtrack.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', xtrack.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_tokens_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('email_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', xtrack.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', xtrack.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', xtrack.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("purpose IN ('verify', 'reset', 'login')", name=op.f('ck_email_tokens_purpose')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_email_tokens_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_email_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_email_tokens_token_hash'))
    )
    with op.batch_alter_table('email_tokens', schema=None) as batch_op:
        batch_op.create_index('ix_email_tokens_user_id_purpose', ['user_id', 'purpose'], unique=False)

    op.create_table('jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('x_username', sa.String(length=15), nullable=False),
    sa.Column('frequency', sa.Integer(), nullable=False),
    sa.Column('topics', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('last_run', xtrack.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('language', sa.String(length=35), nullable=False),
    sa.Column('next_run_at', xtrack.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_post_id', sa.String(length=32), nullable=True),
    sa.Column('created_at', xtrack.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', xtrack.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('frequency >= 15', name=op.f('ck_jobs_frequency_min')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_jobs_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs'))
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_jobs_next_run_at'), ['next_run_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_jobs_user_id'), ['user_id'], unique=False)

    op.create_table('posts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('external_id', sa.String(length=32), nullable=False),
    sa.Column('sort_key', sa.BigInteger(), nullable=False),
    sa.Column('author_username', sa.String(length=15), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('url', sa.String(length=300), nullable=False),
    sa.Column('created_at', xtrack.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('metrics', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('is_repost', sa.Boolean(), nullable=False),
    sa.Column('is_reply', sa.Boolean(), nullable=False),
    sa.Column('is_quote', sa.Boolean(), nullable=False),
    sa.Column('raw', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('fetched_at', xtrack.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['x_accounts.id'], name=op.f('fk_posts_account_id_x_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_posts')),
    sa.UniqueConstraint('account_id', 'external_id', name=op.f('uq_posts_account_id_external_id'))
    )
    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.create_index('ix_posts_account_id_created_at', ['account_id', 'created_at'], unique=False)
        batch_op.create_index('ix_posts_account_id_sort_key', ['account_id', 'sort_key'], unique=False)

    op.create_table('web_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', xtrack.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', xtrack.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', xtrack.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('user_agent', sa.String(length=255), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_web_sessions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_web_sessions')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_web_sessions_token_hash'))
    )
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_web_sessions_user_id'), ['user_id'], unique=False)

    op.create_table('job_executions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('trigger', sa.String(length=16), nullable=False),
    sa.Column('params', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('scheduled_for', xtrack.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', xtrack.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('queued_at', xtrack.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('started_at', xtrack.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('completed_at', xtrack.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('heartbeat_at', xtrack.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('not_before', xtrack.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('tweets_fetched', sa.Integer(), nullable=False),
    sa.Column('error_kind', sa.String(length=32), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('retry_of_id', sa.Integer(), nullable=True),
    sa.Column('covered_from', xtrack.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('covered_to', xtrack.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('gap', sa.Boolean(), nullable=False),
    sa.CheckConstraint("status IN ('QUEUED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED')", name=op.f('ck_job_executions_status')),
    sa.CheckConstraint("trigger IN ('SCHEDULED', 'MANUAL', 'PLAYGROUND')", name=op.f('ck_job_executions_trigger')),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_job_executions_job_id_jobs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['retry_of_id'], ['job_executions.id'], name=op.f('fk_job_executions_retry_of_id_job_executions'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_job_executions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_job_executions'))
    )
    with op.batch_alter_table('job_executions', schema=None) as batch_op:
        batch_op.create_index('ix_job_executions_job_id_id', ['job_id', 'id'], unique=False)
        batch_op.create_index('ix_job_executions_unfinished', ['status'], unique=False, sqlite_where=sa.text("status IN ('QUEUED', 'RUNNING')"), postgresql_where=sa.text("status IN ('QUEUED', 'RUNNING')"))
        batch_op.create_index('ix_job_executions_user_id_id', ['user_id', 'id'], unique=False)
        batch_op.create_index('uq_job_executions_job_id_active', ['job_id'], unique=True, sqlite_where=sa.text("status IN ('QUEUED', 'RUNNING')"), postgresql_where=sa.text("status IN ('QUEUED', 'RUNNING')"))
        batch_op.create_index('uq_job_executions_job_id_scheduled_for', ['job_id', 'scheduled_for'], unique=True, sqlite_where=sa.text("trigger = 'SCHEDULED'"), postgresql_where=sa.text("trigger = 'SCHEDULED'"))

    op.create_table('summaries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('execution_id', sa.Integer(), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('is_playground', sa.Boolean(), nullable=False),
    sa.Column('x_username', sa.String(length=15), nullable=True),
    sa.Column('topics', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('hours_back', sa.Integer(), nullable=True),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('tweets_count', sa.Integer(), nullable=False),
    sa.Column('raw_data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('created_at', xtrack.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('model', sa.String(length=100), nullable=True),
    sa.Column('input_tokens', sa.Integer(), nullable=False),
    sa.Column('output_tokens', sa.Integer(), nullable=False),
    sa.Column('cost', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['execution_id'], ['job_executions.id'], name=op.f('fk_summaries_execution_id_job_executions'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_summaries_job_id_jobs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_summaries_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_summaries'))
    )
    with op.batch_alter_table('summaries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_summaries_execution_id'), ['execution_id'], unique=False)
        batch_op.create_index('ix_summaries_job_id_id', ['job_id', 'id'], unique=False)
        batch_op.create_index('ix_summaries_user_id_id', ['user_id', 'id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('summaries', schema=None) as batch_op:
        batch_op.drop_index('ix_summaries_user_id_id')
        batch_op.drop_index('ix_summaries_job_id_id')
        batch_op.drop_index(batch_op.f('ix_summaries_execution_id'))

    op.drop_table('summaries')
    with op.batch_alter_table('job_executions', schema=None) as batch_op:
        batch_op.drop_index('uq_job_executions_job_id_scheduled_for', sqlite_where=sa.text("trigger = 'SCHEDULED'"), postgresql_where=sa.text("trigger = 'SCHEDULED'"))
        batch_op.drop_index('uq_job_executions_job_id_active', sqlite_where=sa.text("status IN ('QUEUED', 'RUNNING')"), postgresql_where=sa.text("status IN ('QUEUED', 'RUNNING')"))
        batch_op.drop_index('ix_job_executions_user_id_id')
        batch_op.drop_index('ix_job_executions_unfinished', sqlite_where=sa.text("status IN ('QUEUED', 'RUNNING')"), postgresql_where=sa.text("status IN ('QUEUED', 'RUNNING')"))
        batch_op.drop_index('ix_job_executions_job_id_id')

    op.drop_table('job_executions')
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_web_sessions_user_id'))

    op.drop_table('web_sessions')
    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.drop_index('ix_posts_account_id_sort_key')
        batch_op.drop_index('ix_posts_account_id_created_at')

    op.drop_table('posts')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_jobs_user_id'))
        batch_op.drop_index(batch_op.f('ix_jobs_next_run_at'))

    op.drop_table('jobs')
    with op.batch_alter_table('email_tokens', schema=None) as batch_op:
        batch_op.drop_index('ix_email_tokens_user_id_purpose')

    op.drop_table('email_tokens')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_tokens_user_id'))

    op.drop_table('api_tokens')
    op.drop_table('x_accounts')
    op.drop_table('users')
    op.drop_table('source_limits')
