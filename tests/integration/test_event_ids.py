"""``event_ids``: each event's month in one plain table (migration 0012, ledger/event_ids.py).

PostgreSQL only, except the last test (both databases): SQLite keeps one ``events`` table
keyed by id.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import uuid
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Connection, create_engine, event, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from app.metrics import LedgerCollector
from ledger import log, partitions, unsigned
from ledger.event_ids import stored_event
from ledger.model import Event
from ledger.store import alembic_config, transaction, upgrade
from tests.conftest import PG_URL
from tests.partition_ledger import (
    AUG,
    NOW,
    OCT,
    Ledger,
    audited_ok,
    checkpoint,
    hold,
    months_history,
    pg_only,
    register,
    rows,
)  # fmt: skip

COPY_OF = (
    "INSERT INTO events SELECT {id}, cylinder_id, seq, type, occurred_at, {recorded_at}, "
    "actor_id, station_id, site_id, payload, prev_hash, hash, key_id, signature "
    "FROM events WHERE id = :id"
)


def registered(ledger: Ledger) -> dict[str, dt.datetime]:
    with ledger.engine.connect() as conn:
        return dict(conn.execute(text("SELECT id, recorded_at FROM event_ids")).all())


def recorded(ledger: Ledger) -> dict[str, dt.datetime]:
    with ledger.engine.connect() as conn:
        return dict(conn.execute(text("SELECT id, recorded_at FROM events")).all())


@pg_only
def test_every_event_is_registered_with_its_recording_time(pg_ledger):
    hold(pg_ledger, register(pg_ledger, OCT), NOW)
    hold(pg_ledger, register(pg_ledger, NOW), NOW, event_id=str(uuid.uuid4()))
    assert len(recorded(pg_ledger)) == 4
    assert registered(pg_ledger) == recorded(pg_ledger)


@pg_only
def test_the_database_refuses_an_event_id_taken_in_another_month(pg_ledger):
    held = hold(pg_ledger, register(pg_ledger, OCT), OCT)
    later = COPY_OF.format(id="id", recorded_at="recorded_at + interval '45 days'")
    refused = pytest.raises(IntegrityError, match="taken by another event")
    with refused, pg_ledger.engine.begin() as conn:
        conn.execute(text(later), {"id": held})
    with pg_ledger.engine.connect() as conn:
        assert [i for i in rows(conn) if i == held] == [held]


@pg_only
def test_a_copy_into_events_registers_its_ids(pg_ledger):
    held = hold(pg_ledger, register(pg_ledger, OCT), OCT)
    fresh = str(uuid.uuid4())
    copied = COPY_OF.format(id=":fresh", recorded_at="recorded_at + interval '1 day'")
    with pg_ledger.engine.begin() as conn:
        conn.execute(text(copied), {"id": held, "fresh": fresh})
    assert registered(pg_ledger)[fresh] == recorded(pg_ledger)[fresh]


@pg_only
def test_two_inserts_of_one_id_at_once_store_it_once(pg_ledger):
    """The database's own guarantee, without the append's advisory lock on the id."""
    held = hold(pg_ledger, register(pg_ledger, OCT), OCT)
    fresh = str(uuid.uuid4())
    first = COPY_OF.format(id=":fresh", recorded_at="recorded_at + interval '1 day'")
    second = COPY_OF.format(id=":fresh", recorded_at="recorded_at + interval '40 days'")
    outcome: list[BaseException | None] = []

    def insert_second() -> None:
        try:
            with pg_ledger.engine.begin() as conn:
                conn.execute(text(second), {"id": held, "fresh": fresh})
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    with pg_ledger.engine.begin() as conn:
        conn.execute(text(first), {"id": held, "fresh": fresh})
        thread = threading.Thread(target=insert_second)
        thread.start()  # it waits on this transaction's event_ids row until the commit
        while not waiting_on_a_row(conn) and thread.is_alive():
            thread.join(0.05)
    thread.join()
    assert len(outcome) == 1 and isinstance(outcome[0], IntegrityError), outcome
    with pg_ledger.engine.connect() as conn:
        assert [t for i, (_m, _h, t) in rows(conn).items() if i == fresh] == ["events_2026_10"]


def waiting_on_a_row(conn: Connection) -> bool:
    """Some other transaction waits for this one to end (a row it wrote)."""
    query = (
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'transactionid' AND NOT granted)"
    )
    return bool(conn.execute(text(query)).scalar())


@pg_only
def test_the_triggers_keep_to_their_schema_whatever_the_sessions_search_path(pg_ledger):
    held = hold(pg_ledger, register(pg_ledger, OCT), OCT)
    with pg_ledger.engine.connect() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    assert PG_URL is not None
    outside = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    fresh = str(uuid.uuid4())
    copied = COPY_OF.format(id=":fresh", recorded_at="recorded_at + interval '1 day'")
    try:
        with outside.begin() as conn:  # search_path: the database's default, not the schema
            assert conn.execute(text("SELECT current_schema()")).scalar_one() != schema
            conn.execute(
                text(copied.replace("events", f"{schema}.events")), {"id": held, "fresh": fresh}
            )
        for statement in ("DELETE FROM {s}.event_ids", "TRUNCATE {s}.event_ids"):
            refused = pytest.raises(DBAPIError, match="append-only")
            with refused, outside.begin() as conn:
                conn.exec_driver_sql(statement.format(s=schema))
    finally:
        outside.dispose()
    assert registered(pg_ledger)[fresh] == recorded(pg_ledger)[fresh]
    assert len(registered(pg_ledger)) == 3


@pg_only
def test_an_event_is_found_when_event_ids_is_out_of_step(pg_ledger):
    """An operator's hand repair moved an event's recording time and not its registration."""
    held = hold(pg_ledger, register(pg_ledger, OCT), OCT)
    with pg_ledger.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE events DISABLE TRIGGER events_append_only")
        conn.execute(
            text(
                "UPDATE event_ids SET recorded_at = recorded_at - interval '1 hour' WHERE id = :i"
            ),
            {"i": held},
        )
        conn.exec_driver_sql("ALTER TABLE events ENABLE TRIGGER events_append_only")
    with transaction(pg_ledger.engine) as s:
        found = stored_event(s, held)
    assert found is not None and found.id == held


def _statements(ledger: Ledger, call: Any) -> tuple[Any, list[tuple[str, Any]]]:
    """What ``call(session)`` returned and every statement it sent, with its parameters."""
    sent: list[tuple[str, Any]] = []

    def keep(_conn, _cursor, statement, parameters, _context, _many) -> None:
        sent.append((statement, parameters))

    event.listen(ledger.engine, "before_cursor_execute", keep)
    try:
        with transaction(ledger.engine) as s:
            result = call(s)
    finally:
        event.remove(ledger.engine, "before_cursor_execute", keep)
    return result, sent


def reads_events(statement: str) -> bool:
    return " events" in statement.replace("event_ids", "")


def assert_one_partition(ledger: Ledger, sent: list[tuple[str, Any]], partition: str) -> None:
    """The one statement of ``sent`` that reads ``events`` reads only ``partition``."""
    reads = [(q, p) for q, p in sent if reads_events(q)]
    assert len(reads) == 1, reads
    with ledger.engine.connect() as conn:
        assert len(partitions.list_partitions(conn)) > 5
        plan = "\n".join(conn.exec_driver_sql("EXPLAIN " + reads[0][0], reads[0][1]).scalars())
    shown = set(re.findall(r"events_(?:\d{4}_\d{2}|default)", plan))
    assert shown == {partition}, plan


@pg_only
def test_a_look_up_by_id_reads_one_months_partition(pg_ledger):
    held = hold(pg_ledger, register(pg_ledger, AUG), AUG + dt.timedelta(days=1))
    for month in (OCT, NOW):
        hold(pg_ledger, register(pg_ledger, month), month)
    found, sent = _statements(pg_ledger, lambda s: stored_event(s, held))
    assert found is not None and found.id == held
    assert_one_partition(pg_ledger, sent, "events_2026_08")


@pg_only
def test_an_unknown_id_reads_no_partition(pg_ledger):
    hold(pg_ledger, register(pg_ledger, NOW), NOW)
    found, sent = _statements(pg_ledger, lambda s: stored_event(s, str(uuid.uuid4())))
    assert found is None
    assert sent and [q for q, _p in sent if reads_events(q)] == []


@pg_only
def test_a_leaf_names_its_event_from_one_partition(pg_ledger):
    first = hold(pg_ledger, register(pg_ledger, AUG), AUG + dt.timedelta(days=1))
    checkpoint(pg_ledger)
    with transaction(pg_ledger.engine) as s:
        index = log.leaf_index_of(s, first)
        assert index is not None
        assert log.leaf_event(s, 10_000) is None
    leaf, sent = _statements(pg_ledger, lambda s: log.leaf_event(s, index))
    assert leaf is not None and leaf.id == first
    assert_one_partition(pg_ledger, sent, "events_2026_08")


@pg_only
def test_the_unsigned_alarm_and_the_metrics_read_no_events_partition(pg_ledger):
    hold(pg_ledger, register(pg_ledger, AUG), AUG + dt.timedelta(days=1))
    checkpoint(pg_ledger)
    hold(pg_ledger, register(pg_ledger, NOW), NOW)  # pending: no leaf yet
    at, sent = _statements(pg_ledger, unsigned.oldest_unsigned)
    assert at is not None and at.month == NOW.month
    assert sent and not [q for q, _p in sent if reads_events(q)]
    with transaction(pg_ledger.engine) as s:
        log.integrate(s)  # a leaf beyond the newest checkpoint
    collector = LedgerCollector(pg_ledger.engine)
    metrics, sent = _statements(pg_ledger, lambda _s: list(collector.collect()))
    lag = next(m for m in metrics if m.name == "ledger_checkpoint_lag_seconds")
    assert lag.samples[0].value > 0
    assert sent and not [q for q, _p in sent if reads_events(q)]


@pg_only
def test_rows_moved_out_of_default_keep_their_ids(pg_ledger):
    far = dt.datetime(2032, 2, 10, tzinfo=dt.UTC)
    hold(pg_ledger, register(pg_ledger, far), far)  # DEFAULT: no partition that far ahead
    before = registered(pg_ledger)
    with pg_ledger.engine.begin() as conn:
        assert partitions.ensure_partitions(conn, far, months_ahead=0) == ["events_2032_02"]
    assert registered(pg_ledger) == before == recorded(pg_ledger)
    with pg_ledger.engine.connect() as conn:
        assert {t for _m, _h, t in rows(conn).values()} == {"events_2032_02"}


@pg_only
@pytest.mark.parametrize(
    "statement",
    ["UPDATE event_ids SET recorded_at = now()", "DELETE FROM event_ids", "TRUNCATE event_ids"],
)
def test_event_ids_is_append_only_under_the_events_switch(pg_ledger, statement):
    hold(pg_ledger, register(pg_ledger, NOW), NOW)
    with pytest.raises(DBAPIError, match="append-only"), pg_ledger.engine.begin() as conn:
        conn.exec_driver_sql(statement)
    assert len(registered(pg_ledger)) == 2
    with pg_ledger.engine.begin() as conn:  # an operator's repair: the one switch of events
        conn.exec_driver_sql("ALTER TABLE events DISABLE TRIGGER events_append_only")
        conn.exec_driver_sql(statement)
        conn.exec_driver_sql("ALTER TABLE events ENABLE TRIGGER events_append_only")


@pg_only
def test_the_upgrade_registers_every_earlier_event_and_the_downgrade_drops_the_table(
    schema_url,
):
    ledger = months_history(schema_url)  # at 0005: events in August, September, October
    try:
        upgrade(schema_url, "0011")
        with ledger.engine.connect() as conn:
            assert conn.execute(text("SELECT to_regclass('event_ids')")).scalar() is None
        upgrade(schema_url)
        assert len(recorded(ledger)) == 6
        assert registered(ledger) == recorded(ledger)
        august = next(i for i, at in recorded(ledger).items() if at.month == 8)
        with transaction(ledger.engine) as s:
            found = stored_event(s, august)
            assert found is not None and found.recorded_at.month == 8
        command.downgrade(alembic_config(schema_url), "0011")
        with ledger.engine.connect() as conn:
            assert conn.execute(text("SELECT to_regclass('event_ids')")).scalar() is None
            functions = (
                "SELECT count(*) FROM pg_proc WHERE proname LIKE 'ledger_%event_id%' "
                "AND pronamespace = current_schema()::regnamespace"
            )
            assert conn.execute(text(functions)).scalar() == 0
        hold(ledger, register(ledger, NOW), NOW)  # appends work without it
        upgrade(schema_url)
        assert registered(ledger) == recorded(ledger) and len(recorded(ledger)) == 8
        checkpoint(ledger)
        assert audited_ok(ledger)
    finally:
        ledger.engine.dispose()


def test_an_event_is_found_by_its_id_on_either_database(app):
    """SQLite by ``events``' own key; PostgreSQL through ``event_ids``."""
    engine = app.extensions["ledger"].engine
    with transaction(engine) as s:
        ids = s.execute(text("SELECT id FROM events ORDER BY recorded_at, id")).scalars().all()
        assert len(ids) >= 2  # the demo's cylinders
        for event_id in (ids[0], ids[-1]):
            found = stored_event(s, event_id)
            assert isinstance(found, Event) and found.id == event_id
        assert stored_event(s, str(uuid.uuid4())) is None
