"""notifications: by enterprise newest first, and the ones the webhook has not taken

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 17:10:00

``GET /api/v1/notifications`` pages an enterprise's notifications by id, newest first:
``(enterprise_id, id)`` serves the filter and the order at once (it replaces the index on
``enterprise_id`` alone, its prefix). The webhook's delivery reads the undelivered ones in
id order: a partial index on ``id`` where ``delivered_at`` is NULL stays as small as the
backlog, whatever the table's size.
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

UNDELIVERED = sa.text("delivered_at IS NULL")


def upgrade() -> None:
    op.create_index('ix_notifications_enterprise_id_id', 'notifications', ['enterprise_id', 'id'])
    op.drop_index('ix_notifications_enterprise_id', table_name='notifications')
    op.create_index(
        'ix_notifications_undelivered', 'notifications', ['id'],
        postgresql_where=UNDELIVERED, sqlite_where=UNDELIVERED,
    )  # fmt: skip


def downgrade() -> None:
    op.drop_index('ix_notifications_undelivered', table_name='notifications')
    op.create_index('ix_notifications_enterprise_id', 'notifications', ['enterprise_id'])
    op.drop_index('ix_notifications_enterprise_id_id', table_name='notifications')
