"""Monthly partitions of ``events`` on PostgreSQL (docs/scale.md §4; migration 0006).

``events`` is ``PARTITION BY RANGE (recorded_at)``: one partition per calendar month in
UTC, named ``events_YYYY_MM``, and ``events_default`` as a safety net for a row whose
month has no partition yet. ``ensure_partitions`` creates the missing months ahead of
time (the scheduler calls ``maintain`` daily); it is idempotent and serialised by an
advisory lock, so two runs at once create each partition once.

Append-only on a partitioned table: the parent keeps its statement trigger
``events_append_only``; a row trigger on the parent (cloned onto every partition) refuses
UPDATE and DELETE sent to a partition directly, and each partition carries its own
TRUNCATE trigger (TRUNCATE triggers are per table). The partitions' triggers follow the
parent's switch: while ``events_append_only`` is disabled (an operator's repair, the
tests' reset) they let the statement through, so one switch governs the whole table.

SQLite keeps a plain table: every function here is a no-op there.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text

PARENT = "events"
DEFAULT = "events_default"
GUARD = "events_append_only"  # the parent's trigger: the one switch for the whole table
MAX_MONTHS_AHEAD = 120

# Raises unless the parent's guard (TG_ARGV[0]) is disabled; lets a row through otherwise.
GUARD_FUNCTION = """
CREATE OR REPLACE FUNCTION ledger_partition_append_only() RETURNS trigger AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM pg_inherits i JOIN pg_trigger t ON t.tgrelid = i.inhparent
        WHERE i.inhrelid = TG_RELID AND t.tgname = TG_ARGV[0] AND t.tgenabled <> 'D'
    ) THEN
        RAISE EXCEPTION 'ledger: % on % is forbidden: the table is append-only',
            TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_LEVEL = 'ROW' AND TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""


class PartitionError(RuntimeError):
    """A partition could not be created as asked (the message says why, Chinese first)."""


@dataclass(frozen=True)
class Partition:
    """One partition of ``events``: its name, its month's range (None for DEFAULT), and
    PostgreSQL's row estimate (-1 before the table was first analysed)."""

    name: str
    start: dt.datetime | None
    end: dt.datetime | None
    estimated_rows: int

    @property
    def default(self) -> bool:
        """True for the DEFAULT partition."""
        return self.start is None


def month_start(moment: dt.datetime) -> dt.datetime:
    """The first instant (UTC) of the month holding ``moment``."""
    utc = moment.astimezone(dt.UTC)
    return dt.datetime(utc.year, utc.month, 1, tzinfo=dt.UTC)


def add_months(month: dt.datetime, n: int) -> dt.datetime:
    """The first instant of the month ``n`` months after ``month`` (a month start)."""
    index = month.year * 12 + month.month - 1 + n
    return dt.datetime(index // 12, index % 12 + 1, 1, tzinfo=dt.UTC)


def partition_name(month: dt.datetime) -> str:
    """``events_YYYY_MM`` for the month starting at ``month``."""
    return f"{PARENT}_{month.year:04d}_{month.month:02d}"


def is_partitioned(conn: Connection) -> bool:
    """True when ``events`` is a partitioned table (PostgreSQL after migration 0006)."""
    if conn.dialect.name != "postgresql":
        return False
    query = text(
        "SELECT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(:t))"
    )
    return bool(conn.execute(query, {"t": PARENT}).scalar())


_BOUNDS = re.compile(r"FROM \('([^']*)'\) TO \('([^']*)'\)")


def list_partitions(conn: Connection) -> list[Partition]:
    """The partitions of ``events``, months in order, DEFAULT last; [] if not partitioned."""
    if not is_partitioned(conn):
        return []
    rows = conn.execute(
        text(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), c.reltuples::bigint "
            "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(:t)"
        ),
        {"t": PARENT},
    ).all()
    parts = []
    for name, bound, estimate in rows:
        match = _BOUNDS.search(bound)
        start = end = None
        if match:
            start, end = (dt.datetime.fromisoformat(b).astimezone(dt.UTC) for b in match.groups())
        parts.append(Partition(name, start, end, int(estimate)))
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    return sorted(parts, key=lambda p: (p.start or far, p.name))


def default_rows(conn: Connection) -> int:
    """How many rows wait in the DEFAULT partition (0 when all went to their month)."""
    if not is_partitioned(conn) or _regclass(conn, DEFAULT) is None:
        return 0
    return int(conn.execute(text(f"SELECT count(*) FROM {DEFAULT}")).scalar_one())


def create_partition(conn: Connection, month: dt.datetime, parent: str = PARENT) -> str:
    """Create the partition for ``month`` (a month start) if missing; its name.

    Created apart, then attached: ATTACH takes a SHARE UPDATE EXCLUSIVE lock on ``events``,
    so appends and reads go on (``CREATE TABLE … PARTITION OF`` would take an exclusive
    one and queue every append behind a running audit). PostgreSQL refuses to attach a
    month whose rows wait in DEFAULT: ``ensure_partitions`` moves them first.
    """
    name = partition_name(month)
    lo, hi = month.isoformat(), add_months(month, 1).isoformat()
    if _regclass(conn, name) is None:
        conn.exec_driver_sql(f"CREATE TABLE {name} (LIKE {parent} INCLUDING DEFAULTS)")
    attached = text("SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass(:t)")
    if conn.execute(attached, {"t": name}).first() is None:
        conn.exec_driver_sql(
            f"ALTER TABLE {parent} ATTACH PARTITION {name} FOR VALUES FROM ('{lo}') TO ('{hi}')"
        )
    guard_truncate(conn, name)
    return name


def create_default(conn: Connection, parent: str = PARENT) -> None:
    """Create the DEFAULT partition if missing."""
    conn.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS {DEFAULT} PARTITION OF {parent} DEFAULT")
    guard_truncate(conn, DEFAULT)


def guard_truncate(conn: Connection, partition: str) -> None:
    """Refuse TRUNCATE on one partition (a TRUNCATE trigger is never cloned from the parent)."""
    trigger = f"{partition}_no_truncate"
    exists = conn.execute(
        text("SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass(:t) AND tgname = :n"),
        {"t": partition, "n": trigger},
    ).first()
    if exists is None:
        conn.exec_driver_sql(
            f"CREATE TRIGGER {trigger} BEFORE TRUNCATE ON {partition} FOR EACH STATEMENT "
            f"EXECUTE FUNCTION ledger_partition_append_only('{GUARD}')"
        )


def ensure_partitions(
    conn: Connection,
    now: dt.datetime,
    months_ahead: int = 3,
    *,
    since: dt.datetime | None = None,
) -> list[str]:
    """Create the partitions from ``since``'s month (default: ``now``'s) to ``months_ahead``
    months after ``now``'s, and DEFAULT; the names created. Idempotent; run it inside a
    transaction (``maintain`` opens one). Rows that wait in DEFAULT for one of those months
    are moved into it (DEFAULT is detached, replaced and its rows re-inserted), never lost.
    """
    if not 0 <= months_ahead <= MAX_MONTHS_AHEAD:
        raise ValueError(f"months_ahead must be 0–{MAX_MONTHS_AHEAD}")
    if not is_partitioned(conn):
        return []
    # Two runs at once (two scheduler hosts): the second waits, then finds nothing to do.
    lock = "SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':' || :name))"
    conn.execute(text(lock), {"name": "partitions"})  # ledger.store.advisory_lock's key
    # Behind a long reader of DEFAULT (the nightly audit) give up, and retry the next day,
    # rather than queue that partition's other readers behind our lock for long.
    conn.exec_driver_sql("SET LOCAL lock_timeout = '10s'")
    first = month_start(min(since or now, now))
    wanted = [add_months(first, i) for i in range(_months_between(first, now) + months_ahead + 1)]
    existing = list_partitions(conn)
    missing = [m for m in wanted if m not in {p.start for p in existing}]
    created = []
    if not any(p.default for p in existing):
        create_default(conn)
        created.append(DEFAULT)
    if not missing:
        return created
    stranded = _months_in_default(conn)
    if stranded & set(missing):
        return created + _rehome_default(conn, missing)
    for month in missing:
        created.append(create_partition(conn, month))
    return created


def maintain(engine: Engine, now: dt.datetime, months_ahead: int = 3) -> list[str]:
    """The daily job: ``ensure_partitions`` in its own transaction; the names created."""
    if engine.dialect.name != "postgresql":
        return []
    with engine.begin() as conn:
        return ensure_partitions(conn, now, months_ahead)


def _months_between(first: dt.datetime, now: dt.datetime) -> int:
    last = month_start(now)
    return (last.year - first.year) * 12 + last.month - first.month


def _regclass(conn: Connection, name: str) -> str | None:
    value = conn.execute(text("SELECT to_regclass(:n)::text"), {"n": name}).scalar()
    return None if value is None else str(value)


def _months_in_default(conn: Connection) -> set[dt.datetime]:
    if _regclass(conn, DEFAULT) is None:
        return set()
    query = text(f"SELECT DISTINCT date_trunc('month', recorded_at, 'UTC') FROM {DEFAULT}")
    return {month_start(m) for m in conn.execute(query).scalars()}


def _rehome_default(conn: Connection, missing: list[dt.datetime]) -> list[str]:
    """Create ``missing`` months although DEFAULT holds rows for some: detach DEFAULT, put
    an empty one in its place, create the months, re-insert the old DEFAULT's rows (each
    goes to its month, or back to DEFAULT) and drop it once every row is in. No UPDATE,
    DELETE or TRUNCATE is ever sent. Appends wait meanwhile (an exclusive lock on events)."""
    old = f"{DEFAULT}_rehoming"
    conn.exec_driver_sql(f"LOCK TABLE {PARENT} IN ACCESS EXCLUSIVE MODE")
    conn.exec_driver_sql(f"ALTER TABLE {PARENT} DETACH PARTITION {DEFAULT}")
    conn.exec_driver_sql(f"ALTER TABLE {DEFAULT} RENAME TO {old}")
    indexes = conn.execute(
        text(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = to_regclass(:t)"
        ),
        {"t": old},
    ).scalars()
    for index in list(indexes):  # free the names for the new DEFAULT's indexes
        conn.exec_driver_sql(f'ALTER INDEX "{index}" RENAME TO "{index[:50]}_rehoming"')
    create_default(conn)
    created = [create_partition(conn, month) for month in missing]
    waiting = int(conn.execute(text(f"SELECT count(*) FROM {old}")).scalar_one())
    moved = conn.exec_driver_sql(f"INSERT INTO {PARENT} SELECT * FROM {old}").rowcount
    if moved != waiting:
        raise PartitionError(
            f"默认分区的 {waiting} 行只移动了 {moved} 行，已回滚 / moved {moved} of the "
            f"{waiting} rows of {DEFAULT}; rolled back"
        )
    conn.exec_driver_sql(f"DROP TABLE {old}")
    return created
