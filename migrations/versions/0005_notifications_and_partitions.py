"""owners' notifications, the scheduler's run records, an index for the dashboard's lists

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 18:10:00

The monthly partitioning of ``events`` named in this file's name is NOT done here: it
needs the primary key and the unique keys to carry the partition key, which changes the
event id contract, so it has its own migration, 0006_partition_events_by_month.py (see
docs/scale.md §4).
"""

from alembic import op
import sqlalchemy as sa
import ledger.model


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'notifications',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('enterprise_id', sa.Integer(), nullable=False),
        sa.Column('cylinder_id', sa.String(length=36), nullable=False),
        sa.Column('code', sa.String(length=20), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('due_on', sa.Date(), nullable=False),
        sa.Column('message', sa.Text(), nullable=False),
        sa.Column('created_at', ledger.model.UTCDateTime(timezone=True), nullable=False),
        sa.Column('delivered_at', ledger.model.UTCDateTime(timezone=True), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('cylinder_id', 'kind', 'due_on'),
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_enterprise_id', ['enterprise_id'], unique=False)
        batch_op.create_index('ix_notifications_created_at', ['created_at'], unique=False)
    op.create_table(
        'job_runs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('job', sa.String(length=32), nullable=False),
        sa.Column('period', sa.String(length=32), nullable=False),
        sa.Column('started_at', ledger.model.UTCDateTime(timezone=True), nullable=False),
        sa.Column('finished_at', ledger.model.UTCDateTime(timezone=True), nullable=False),
        sa.Column('ok', sa.Boolean(), nullable=False),
        sa.Column('detail', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('job', 'period'),
    )
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.create_index('ix_job_runs_finished_at', ['finished_at'], unique=False)
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_type_occurred_at', ['type', 'occurred_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_type_occurred_at')
    op.drop_table('job_runs')
    op.drop_table('notifications')
