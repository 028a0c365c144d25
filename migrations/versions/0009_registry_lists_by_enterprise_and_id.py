"""registry lists: actors, vehicles and customers by enterprise, then id

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 18:30:00

``GET /api/v1/customers``, ``/actors`` and ``/vehicles`` page an enterprise's records
forwards by id (``WHERE enterprise_id = ? AND id > ? ORDER BY id LIMIT ?``):
``(enterprise_id, id)`` serves the filter, the order and the page's start at once, so a
page reads only its own rows however many customers an enterprise has. Each replaces the
index on ``enterprise_id`` alone, its prefix (which also serves the foreign key). Stations
are few and keep theirs; enterprises page by their primary key.
"""

from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

TABLES = ('actors', 'vehicles', 'customers')


def upgrade() -> None:
    for table in TABLES:
        op.create_index(f'ix_{table}_enterprise_id_id', table, ['enterprise_id', 'id'])
        op.drop_index(f'ix_{table}_enterprise_id', table_name=table)


def downgrade() -> None:
    for table in TABLES:
        op.create_index(f'ix_{table}_enterprise_id', table, ['enterprise_id'])
        op.drop_index(f'ix_{table}_enterprise_id_id', table_name=table)
