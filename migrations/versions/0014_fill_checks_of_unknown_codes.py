"""the refused scans of unregistered codes, by time

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08 03:00:00

The regulator's "未登记" (unregistered code) row counts, and its list pages, the fill checks
of codes no cylinder carries over the last 30 days, newest first (ledger/unknown_scans.py).
PostgreSQL read them through ``ix_fill_checks_checked_at``: every check of the 30 days, to
keep the few of unregistered codes (bench/unknown_scans.py, 1M checks a year, 1 % of them
unregistered: the count 10.4 ms, reading ~82,000 rows for 800). A partial index on
``(checked_at, id)`` of those checks only serves the count and the page (newest first, by
a backward scan) from their own rows: 1.1 ms. Where they are many (30 %, a city early in
its registration) the planner keeps the time index, as fast. Built in one pass over
``fill_checks`` (writes to that table wait for it: run it with the workers stopped, as
every migration here).
"""

from alembic import op
import sqlalchemy as sa

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

UNKNOWN_CODE = sa.text("cylinder_id IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_fill_checks_unknown_code",
        "fill_checks",
        ["checked_at", "id"],
        unique=False,
        sqlite_where=UNKNOWN_CODE,
        postgresql_where=UNKNOWN_CODE,
    )


def downgrade() -> None:
    op.drop_index("ix_fill_checks_unknown_code", table_name="fill_checks")
