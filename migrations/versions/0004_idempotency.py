"""remembered answers to writes sent with an Idempotency-Key (24 h, per actor)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 18:05:00
"""

from alembic import op
import sqlalchemy as sa
import ledger.model


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'idempotency_keys',
        sa.Column('actor_id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=255), nullable=False),
        sa.Column('fingerprint', sa.String(length=64), nullable=False),
        sa.Column('status', sa.Integer(), nullable=True),
        sa.Column('content_type', sa.String(length=100), nullable=True),
        sa.Column('body', sa.LargeBinary(), nullable=True),
        sa.Column('created_at', ledger.model.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('actor_id', 'key'),
    )
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.create_index('ix_idempotency_keys_created_at', ['created_at'], unique=False)


def downgrade() -> None:
    op.drop_table('idempotency_keys')
