"""events partitioned by month (PostgreSQL)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 19:45:00

On PostgreSQL ``events`` becomes ``PARTITION BY RANGE (recorded_at)``: one partition per
month (UTC) from the first event's month to three months ahead, and a DEFAULT partition
(docs/scale.md §4; ``ledger/partitions.py`` keeps creating months ahead). PostgreSQL
wants the partition key in every unique key of a partitioned table, so:

- the primary key becomes ``(id, recorded_at)``; an event id stays unique because an
  append with a client-chosen id first looks it up under a lock on that id
  (``ledger.service``), and ``log_leaves.event_id`` is still unique;
- ``(cylinder_id, seq)`` and ``hash`` are plain indexes (on every partition): appends are
  serialised on the cylinder's head row, so a chain cannot fork, and ``ledger audit``
  checks every link and hash.

Nothing references ``events`` by a foreign key (``log_pending`` and ``log_leaves`` name
event ids without one), so the table is rebuilt: the new partitioned table is filled
from the old one under an exclusive lock (reads go on, appends wait), the old one is
dropped and the new one takes its name, its keys, indexes, foreign keys and append-only
triggers. The upgrade takes about as long as copying and indexing ``events`` once.

SQLite keeps its plain table: the migration does nothing there.
"""

import datetime as dt

from alembic import op

from ledger import partitions

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

NEW = "events_partitioned"
OLD = "events_unpartitioned"
INDEXES = (
    ("ix_events_recorded_at", "recorded_at"),
    ("ix_events_station_id", "station_id"),
    ("ix_events_type", "type"),
    ("ix_events_type_occurred_at", "type, occurred_at"),
)
# Unique before 0006; PostgreSQL cannot enforce them across partitions (see above).
CHAIN_INDEXES = (("ix_events_cylinder_id_seq", "cylinder_id, seq"), ("ix_events_hash", "hash"))
FOREIGN_KEYS = (
    "ADD CONSTRAINT events_actor_id_fkey FOREIGN KEY (actor_id) REFERENCES actors(id)",
    "ADD CONSTRAINT events_cylinder_id_fkey FOREIGN KEY (cylinder_id) REFERENCES cylinders(id)",
    "ADD CONSTRAINT events_station_id_fkey FOREIGN KEY (station_id) REFERENCES stations(id)",
)
APPEND_ONLY = (
    "CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON events "
    "FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only()"
)


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    op.execute("LOCK TABLE events IN EXCLUSIVE MODE")
    op.execute(partitions.GUARD_FUNCTION)
    op.execute(
        f"CREATE TABLE {NEW} (LIKE events INCLUDING DEFAULTS) PARTITION BY RANGE (recorded_at)"
    )
    now = dt.datetime.now(dt.UTC)
    first = conn.exec_driver_sql("SELECT min(recorded_at) FROM events").scalar() or now
    month = partitions.month_start(first)
    last = partitions.add_months(partitions.month_start(now), 3)
    while month <= last:
        partitions.create_partition(conn, month, parent=NEW)
        month = partitions.add_months(month, 1)
    partitions.create_default(conn, parent=NEW)
    # Before the indexes: one sorted build per partition is faster than row-by-row inserts.
    op.execute(f"INSERT INTO {NEW} SELECT * FROM events")
    op.execute("DROP TABLE events")  # its trigger, keys and indexes go with it
    op.execute(f"ALTER TABLE {NEW} RENAME TO events")
    op.execute("ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY (id, recorded_at)")
    for name, columns in (*INDEXES, *CHAIN_INDEXES):
        op.execute(f"CREATE INDEX {name} ON events ({columns})")
    for fk in FOREIGN_KEYS:
        op.execute(f"ALTER TABLE events {fk}")
    op.execute(APPEND_ONLY)
    # Row triggers on a partitioned table are cloned onto every partition, present and
    # future: UPDATE and DELETE sent to a partition itself are refused too.
    op.execute(
        "CREATE TRIGGER events_append_only_rows BEFORE UPDATE OR DELETE ON events "
        f"FOR EACH ROW EXECUTE FUNCTION ledger_partition_append_only('{partitions.GUARD}')"
    )
    op.execute("ANALYZE events")


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    op.execute("LOCK TABLE events IN EXCLUSIVE MODE")
    op.execute(f"CREATE TABLE {OLD} (LIKE events INCLUDING DEFAULTS)")
    op.execute(f"INSERT INTO {OLD} SELECT * FROM events")
    op.execute("DROP TABLE events")  # and every partition
    op.execute(f"ALTER TABLE {OLD} RENAME TO events")
    # Fails, and rolls back, if an id or a (cylinder, seq) ever went in twice.
    op.execute("ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY (id)")
    op.execute(
        "ALTER TABLE events ADD CONSTRAINT events_cylinder_id_seq_key UNIQUE (cylinder_id, seq)"
    )
    op.execute("ALTER TABLE events ADD CONSTRAINT events_hash_key UNIQUE (hash)")
    for name, columns in INDEXES:
        op.execute(f"CREATE INDEX {name} ON events ({columns})")
    for fk in FOREIGN_KEYS:
        op.execute(f"ALTER TABLE events {fk}")
    op.execute(APPEND_ONLY)
    op.execute("DROP FUNCTION IF EXISTS ledger_partition_append_only()")
