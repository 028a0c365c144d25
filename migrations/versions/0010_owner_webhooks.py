"""owners' own webhooks, and the deliveries of their notifications to them

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 10:00:00

``owner_webhooks``: one per enterprise (its id is the key), with the secret its
notifications are signed with. ``owner_deliveries``: one row per notification the expiry
sweep wrote while its owner had a webhook; the delivery reads the undelivered ones by
owner in id order (and an owner's backlog is counted and removed by owner), so a partial
index on ``(enterprise_id, notification_id)`` where ``delivered_at`` is NULL stays as
small as the backlog (as ``ix_notifications_undelivered``, migration 0008). A webhook's
``generation`` is new each time one is set where there was none; a delivery row carries
the generation it was queued for and is sent only under it. No foreign
keys, as ``notifications``: operational data, not evidence.
"""

import sqlalchemy as sa
from alembic import op

import ledger.model

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

UNDELIVERED = sa.text("delivered_at IS NULL")


def upgrade() -> None:
    op.create_table(
        'owner_webhooks',
        sa.Column('enterprise_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('url', sa.String(length=500), nullable=False),
        sa.Column('secret', sa.String(length=64), nullable=False),
        sa.Column('generation', sa.String(length=16), nullable=False),
        sa.Column('created_at', ledger.model.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', ledger.model.UTCDateTime(timezone=True), nullable=False),
        sa.Column('actor_id', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('enterprise_id'),
    )
    op.create_table(
        'owner_deliveries',
        sa.Column('notification_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('enterprise_id', sa.Integer(), nullable=False),
        sa.Column('generation', sa.String(length=16), nullable=False),
        sa.Column('created_at', ledger.model.UTCDateTime(timezone=True), nullable=False),
        sa.Column('delivered_at', ledger.model.UTCDateTime(timezone=True), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint('notification_id'),
    )
    op.create_index(
        'ix_owner_deliveries_undelivered', 'owner_deliveries', ['enterprise_id', 'notification_id'],
        postgresql_where=UNDELIVERED, sqlite_where=UNDELIVERED,
    )  # fmt: skip


def downgrade() -> None:
    op.drop_index('ix_owner_deliveries_undelivered', table_name='owner_deliveries')
    op.drop_table('owner_deliveries')
    op.drop_table('owner_webhooks')
