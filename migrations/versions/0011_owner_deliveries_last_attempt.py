"""when an owner's delivery was last tried, for its retention

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 22:00:00

``owner_deliveries.last_attempt_at``: set on every attempt. A delivery given up is kept
``OWNER_DELIVERY_KEEP_DAYS`` after its last attempt (``ledger.owner_delivery
.purge_finished``), not after it was queued: a dead receiver's backlog is tried one row a
run, so its last rows are given up long after they were queued. Rows already tried are
given the migration's time (their last attempt is not known, and none is later), so
nothing is purged sooner than the retention promises.
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

import ledger.model

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('owner_deliveries') as batch:
        batch.add_column(
            sa.Column('last_attempt_at', ledger.model.UTCDateTime(timezone=True), nullable=True)
        )
    deliveries = sa.table(
        'owner_deliveries',
        sa.column('attempts', sa.Integer()),
        sa.column('last_attempt_at', ledger.model.UTCDateTime(timezone=True)),
    )
    op.execute(
        deliveries.update()
        .where(deliveries.c.attempts > 0)
        .values(last_attempt_at=dt.datetime.now(dt.UTC))
    )


def downgrade() -> None:
    with op.batch_alter_table('owner_deliveries') as batch:
        batch.drop_column('last_attempt_at')
