"""Migration 0006: events partitioned by month, up from 0005 with a history and back down
(PostgreSQL; SQLite keeps its plain table: test_partitions.py)."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text

from ledger import partitions
from ledger.store import alembic_config, upgrade
from tests.partition_ledger import (
    NOW,
    audited_ok,
    checkpoint,
    hold,
    months_history,
    pg_only,
    register,
    rows,
)  # fmt: skip


@pg_only
def test_the_upgrade_keeps_every_event_and_puts_each_in_its_months_partition(schema_url):
    ledger = months_history(schema_url)
    with ledger.engine.connect() as conn:
        before = rows(conn)
    upgrade(schema_url)
    with ledger.engine.connect() as conn:
        after = rows(conn)
        names = [p.name for p in partitions.list_partitions(conn)]
    assert len(after) == len(before) == 6
    assert {i: r[:2] for i, r in after.items()} == {i: r[:2] for i, r in before.items()}
    assert {f"events_{month}" for month, _h, _t in after.values()} == {
        "events_2026_08", "events_2026_09", "events_2026_10",
    }  # fmt: skip
    assert all(table == f"events_{month}" for month, _h, table in after.values())
    assert names[:3] == ["events_2026_08", "events_2026_09", "events_2026_10"]
    assert names[-1] == "events_default"
    assert audited_ok(ledger)
    ledger.engine.dispose()


@pg_only
def test_the_downgrade_restores_the_plain_table_with_its_unique_keys(schema_url):
    ledger = months_history(schema_url)
    upgrade(schema_url)
    hold(ledger, register(ledger, NOW), NOW)
    with ledger.engine.connect() as conn:
        before = rows(conn)
    command.downgrade(alembic_config(schema_url), "0005")
    with ledger.engine.connect() as conn:
        after = rows(conn)
        kind = conn.execute(text("SELECT relkind FROM pg_class WHERE oid = 'events'::regclass"))
        keys = conn.execute(
            text(
                "SELECT conname FROM pg_constraint WHERE conrelid = 'events'::regclass "
                "AND contype IN ('p', 'u') ORDER BY conname"
            )
        ).scalars()
        assert kind.scalar() == "r"
        assert list(keys) == ["events_cylinder_id_seq_key", "events_hash_key", "events_pkey"]
    assert {i: r[:2] for i, r in after.items()} == {i: r[:2] for i, r in before.items()}
    assert len(after) == 8
    checkpoint(ledger)
    assert audited_ok(ledger)
    upgrade(schema_url)  # and up again
    with ledger.engine.connect() as conn:
        assert len(rows(conn)) == 8
    ledger.engine.dispose()
