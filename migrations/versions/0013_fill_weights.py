"""each fill's net weight on record, for the short-weight list

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 20:10:00

The regulator's short-weight list parsed every ``filled`` event's payload and joined its
cylinder at read time: seconds at a province's size (ledger/fill_weights.py). This makes
``fill_weights``, one row per ``filled`` event (its net weight on record: gross − the
registered tare, as ``ledger.state.weighed_net`` rounds it; and the cylinder's rated
fill), with a partial index on ``(occurred_at, event_id, net_kg, capacity_kg)`` of the
fills below their rated fill, and fills it from the events already stored (read only:
``events`` is append-only and is never updated). From now on each append of a
``filled`` event writes its row in its own transaction.

Both databases alike. The backfill computes the net in Python, exactly as the fold does
(the rounding of the database's own numeric types differs in the last gram now and then).
It reads every ``filled`` event once (bench/short_weight.py times it). A fill appended by
a worker still running the code before this revision, after the upgrade committed, gets
no row: ``ledger audit`` names it and ``flask --app wsgi ledger rebuild-fill-weights``
repairs it (upgrade with the workers stopped, or run that once after the restart).
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel

import ledger.model

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from ledger import fill_weights

    op.create_table(
        "fill_weights",
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("cylinder_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=True),
        sa.Column("occurred_at", ledger.model.UTCDateTime(timezone=True), nullable=False),
        sa.Column("net_kg", sa.Float(), nullable=False),
        sa.Column("capacity_kg", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    conn = op.get_bind()
    fill_weights.rebuild(conn)
    # The index after the rows: one sort instead of an index grown row by row.
    below_rated = sa.text("net_kg < capacity_kg")
    op.create_index(
        "ix_fill_weights_below_rated",
        "fill_weights",
        ["occurred_at", "event_id", "net_kg", "capacity_kg"],
        unique=False,
        sqlite_where=below_rated,
        postgresql_where=below_rated,
    )
    if conn.dialect.name == "postgresql":
        op.execute("ANALYZE fill_weights")


def downgrade() -> None:
    op.drop_index("ix_fill_weights_below_rated", table_name="fill_weights")
    op.drop_table("fill_weights")
