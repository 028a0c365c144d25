"""people who log in to the pages, and the public's reports

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 17:40:00
"""

from alembic import op
import sqlalchemy as sa
import ledger.model


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'people',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('login', sa.String(length=64), nullable=False),
        sa.Column('actor_id', sa.Integer(), nullable=False),
        sa.Column('password_hash', sa.Text(), nullable=False),
        sa.Column('created_at', ledger.model.UTCDateTime(timezone=True), nullable=False),
        sa.Column('password_changed_at', ledger.model.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['actor_id'], ['actors.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('login'),
        sa.UniqueConstraint('actor_id'),
    )
    op.create_table(
        'public_reports',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('form_token', sa.String(length=64), nullable=False),
        sa.Column('code', sa.String(length=20), nullable=False),
        sa.Column('cylinder_id', sa.String(length=36), nullable=True),
        sa.Column('kind', sa.String(length=24), nullable=False),
        sa.Column('note', sa.String(length=500), nullable=False),
        sa.Column('ip_hash', sa.String(length=64), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('created_at', ledger.model.UTCDateTime(timezone=True), nullable=False),
        sa.Column('reviewed_at', ledger.model.UTCDateTime(timezone=True), nullable=True),
        sa.Column('reviewer_id', sa.Integer(), nullable=True),
        sa.Column('review_note', sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(['reviewer_id'], ['actors.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('form_token'),
    )
    with op.batch_alter_table('public_reports', schema=None) as batch_op:
        batch_op.create_index('ix_public_reports_code', ['code'], unique=False)
        batch_op.create_index('ix_public_reports_ip_hash', ['ip_hash'], unique=False)
        batch_op.create_index('ix_public_reports_status', ['status'], unique=False)
        batch_op.create_index('ix_public_reports_created_at', ['created_at'], unique=False)


def downgrade() -> None:
    op.drop_table('public_reports')
    op.drop_table('people')
