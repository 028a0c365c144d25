"""an index on cylinders (manufacturer, serial)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 18:40:00

Registration looks for another cylinder with the same maker's serial (钢印号; a twin is
recorded as ``duplicate_serial_of`` and blocked as REFURBISHED), and a label batch looks up
the enterprise's cylinder by manufacturer and serial before registering a row, so a rerun
reprints instead of registering twice. Without this index both read every cylinder.
"""

from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cylinders', schema=None) as batch_op:
        batch_op.create_index(
            'ix_cylinders_manufacturer_serial', ['manufacturer', 'serial'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('cylinders', schema=None) as batch_op:
        batch_op.drop_index('ix_cylinders_manufacturer_serial')
