"""Monthly partitions of ``events`` (ledger/partitions.py; the migration itself:
test_partitions_migration.py).

PostgreSQL only, except the last tests: SQLite keeps a plain table, and the maintenance
does nothing there. Each PostgreSQL test gets a schema of its own.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ledger import partitions, service
from ledger.errors import Conflict
from ledger.store import transaction
from tests.partition_ledger import (
    AUTHORITY,
    LEDGER_TABLES,
    NOW,
    OCT,
    SEP,
    audited_ok,
    checkpoint,
    hold,
    pg_only,
    register,
    rows,
    waiting_on,
)  # fmt: skip


@pg_only
def test_a_new_event_lands_in_the_partition_of_its_recording_month(pg_ledger):
    code = register(pg_ledger, SEP)
    held = hold(pg_ledger, code, NOW)
    with pg_ledger.engine.connect() as conn:
        tables = {i: t for i, (_m, _h, t) in rows(conn).items()}
    assert tables[held] == "events_2026_11"
    assert sorted(tables.values()) == ["events_2026_09", "events_2026_11"]


@pg_only
@pytest.mark.parametrize("table", ["events_2026_11", "events_default"])
@pytest.mark.parametrize(
    "statement", ["UPDATE {t} SET type = 'scrapped'", "DELETE FROM {t}", "TRUNCATE {t}"]
)
def test_a_partition_refuses_update_delete_and_truncate(pg_ledger, table, statement):
    hold(pg_ledger, register(pg_ledger, NOW), NOW)
    far = dt.datetime(2033, 5, 1, tzinfo=dt.UTC)  # no partition that far ahead: DEFAULT
    hold(pg_ledger, register(pg_ledger, far), far)
    with pg_ledger.engine.connect() as conn:
        count = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    assert count == 2
    with pytest.raises(DBAPIError, match="append-only"), pg_ledger.engine.begin() as conn:
        conn.execute(text(statement.format(t=table)))
    checkpoint(pg_ledger)
    assert audited_ok(pg_ledger)


@pg_only
def test_the_parents_switch_lets_an_operator_empty_the_table(pg_ledger):
    hold(pg_ledger, register(pg_ledger, NOW), NOW)
    checkpoint(pg_ledger)
    with pg_ledger.engine.begin() as conn:  # as the tests' reset does (test_ledger_properties)
        for table in ("events", "log_leaves", "checkpoints"):
            conn.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER ALL")
        conn.exec_driver_sql(f"TRUNCATE {', '.join(LEDGER_TABLES)} RESTART IDENTITY")
        for table in ("events", "log_leaves", "checkpoints"):
            conn.exec_driver_sql(f"ALTER TABLE {table} ENABLE TRIGGER ALL")
    with pg_ledger.engine.connect() as conn:
        assert rows(conn) == {}
    with pytest.raises(DBAPIError, match="append-only"), pg_ledger.engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE events_2026_11")


@pg_only
def test_ensure_partitions_creates_the_months_ahead_once(pg_ledger):
    later = dt.datetime(2031, 3, 2, tzinfo=dt.UTC)
    with pg_ledger.engine.begin() as conn:
        created = partitions.ensure_partitions(conn, later, months_ahead=2)
    assert created == ["events_2031_03", "events_2031_04", "events_2031_05"]
    with pg_ledger.engine.begin() as conn:
        assert partitions.ensure_partitions(conn, later, months_ahead=2) == []
        parts = partitions.list_partitions(conn)
    starts = [p.start for p in parts if p.start is not None]
    assert starts == sorted(set(starts))
    assert starts[-1] == dt.datetime(2031, 5, 1, tzinfo=dt.UTC)
    assert parts[-1].default and parts[-1].end is None


@pg_only
def test_two_maintenance_runs_at_once_create_each_partition_once(pg_ledger):
    later = dt.datetime(2031, 6, 10, tzinfo=dt.UTC)
    other: list[list[str] | BaseException] = []

    def second_run() -> None:
        try:
            other.append(partitions.maintain(pg_ledger.engine, later))
        except BaseException as exc:  # reported by the assertion below
            other.append(exc)

    with pg_ledger.engine.begin() as conn:
        first = partitions.ensure_partitions(conn, later)  # holds the lock until commit
        thread = threading.Thread(target=second_run)
        thread.start()
        while not waiting_on(conn, "partitions") and thread.is_alive():
            thread.join(0.05)
    thread.join()
    assert first == ["events_2031_06", "events_2031_07", "events_2031_08", "events_2031_09"]
    assert other == [[]]


@pg_only
def test_rows_waiting_in_default_move_into_their_new_month(pg_ledger):
    far = dt.datetime(2032, 2, 10, tzinfo=dt.UTC)
    code = register(pg_ledger, far)
    hold(pg_ledger, code, far + dt.timedelta(days=40))  # March 2032: DEFAULT too
    hold(pg_ledger, register(pg_ledger, NOW), NOW)
    with pg_ledger.engine.connect() as conn:
        before = rows(conn)
        assert partitions.default_rows(conn) == 2
    with pg_ledger.engine.begin() as conn:
        created = partitions.ensure_partitions(conn, far, months_ahead=0)
    with pg_ledger.engine.connect() as conn:
        after = rows(conn)
        assert partitions.default_rows(conn) == 1  # March 2032 was not asked for: it waits
    assert created == ["events_2032_02"]
    assert {i: r[:2] for i, r in after.items()} == {i: r[:2] for i, r in before.items()}
    assert sorted(t for _m, _h, t in after.values()) == [
        "events_2026_11", "events_2026_11", "events_2032_02", "events_default",
    ]  # fmt: skip
    checkpoint(pg_ledger)
    assert audited_ok(pg_ledger)
    with pytest.raises(DBAPIError, match="append-only"), pg_ledger.engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE events_default")


@pg_only
def test_a_query_on_a_recording_range_reads_only_its_months(pg_ledger):
    hold(pg_ledger, register(pg_ledger, NOW), NOW)
    with pg_ledger.engine.connect() as conn:
        query = (
            "EXPLAIN SELECT count(*) FROM events WHERE recorded_at >= '2026-12-01T00:00Z' "
            "AND recorded_at < '2027-01-01T00:00Z'"
        )
        plan = "\n".join(conn.exec_driver_sql(query).scalars())
    assert "events_2026_12" in plan
    assert "events_2026_11" not in plan and "events_default" not in plan


@pg_only
def test_an_event_id_used_in_an_earlier_month_is_replayed_or_refused(pg_ledger):
    code, other = register(pg_ledger, OCT), register(pg_ledger, OCT)
    chosen = str(uuid.uuid4())
    assert hold(pg_ledger, code, OCT, event_id=chosen) == chosen
    assert hold(pg_ledger, code, NOW, event_id=chosen) == chosen  # a retry a month later
    with pytest.raises(Conflict):
        hold(pg_ledger, other, NOW, event_id=chosen)  # the same id for another cylinder
    with pg_ledger.engine.connect() as conn:
        tables = [t for i, (_m, _h, t) in rows(conn).items() if i == chosen]
    assert tables == ["events_2026_10"]


@pg_only
def test_one_event_id_sent_for_two_cylinders_at_once_is_stored_once(pg_ledger):
    code, other = register(pg_ledger, NOW), register(pg_ledger, NOW)
    chosen = str(uuid.uuid4())
    outcome: list[str | BaseException] = []

    def second() -> None:
        try:
            outcome.append(hold(pg_ledger, other, NOW + dt.timedelta(days=10), event_id=chosen))
        except BaseException as exc:
            outcome.append(exc)

    with transaction(pg_ledger.engine) as s:
        service.append_event(
            s, AUTHORITY, pg_ledger.regulator, code, "held", {"reason": "抽查"}, NOW,
            event_id=chosen,
        )  # fmt: skip
        thread = threading.Thread(target=second)
        thread.start()  # it waits on the id's lock until this transaction commits
        while not waiting_on(s.connection(), f"event-id:{chosen}") and thread.is_alive():
            thread.join(0.05)
    thread.join()
    assert len(outcome) == 1 and isinstance(outcome[0], Conflict)
    with pg_ledger.engine.connect() as conn:
        assert [i for i in rows(conn) if i == chosen] == [chosen]


def test_sqlite_keeps_a_plain_events_table(engine):
    with engine.begin() as conn:
        if engine.dialect.name != "sqlite":
            assert partitions.is_partitioned(conn)
            return
        assert partitions.ensure_partitions(conn, NOW) == []
        assert partitions.list_partitions(conn) == []
        pk = [r[1] for r in conn.exec_driver_sql("PRAGMA table_info(events)") if r[5]]
        assert pk == ["id"]


def test_the_partitions_command_lists_the_months(runner, app):
    result = runner.invoke(args=["ledger", "partitions", "--months-ahead", "2"])
    assert result.exit_code == 0, result.output
    if app.extensions["ledger"].engine.dialect.name == "sqlite":
        assert "不分区 / events is a plain table" in result.output
        return
    assert "events_default" in result.output and "DEFAULT" in result.output
    again = runner.invoke(args=["ledger", "partitions", "--months-ahead", "2"])
    assert "新建 / created: -" in again.output


def test_the_partitions_command_refuses_a_negative_month_count(runner):
    result = runner.invoke(args=["ledger", "partitions", "--months-ahead", "-1"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output and "-1" in result.output
