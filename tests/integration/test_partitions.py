"""Monthly partitions of ``events`` (migration 0006, ledger/partitions.py).

PostgreSQL only, except the last tests: SQLite keeps a plain table, and the migration and
the maintenance do nothing there. Each PostgreSQL test gets a schema of its own.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from ledger import log, partitions, registry, service
from ledger.audit import audit
from ledger.authority import Authority, ensure_server_key
from ledger.errors import Conflict
from ledger.model import Actor, Role
from ledger.note import generate_signer_key, signer_from_key, verifier_from_key, verifier_key_for
from ledger.store import make_engine, transaction, upgrade
from tests.conftest import PG_URL, _pg_schema_url

ORIGIN = "ledger.test/log"
AUTHORITY = Authority(
    server=signer_from_key(generate_signer_key(ORIGIN)),
    registry=signer_from_key(generate_signer_key("registry")),
    base_url="https://ledger.test",
    origin=ORIGIN,
)
VERIFIER = verifier_from_key(verifier_key_for(AUTHORITY.server))
AUG, SEP, OCT = (dt.datetime(2026, m, 14, 9, 30, tzinfo=dt.UTC) for m in (8, 9, 10))
NOW = dt.datetime(2026, 11, 23, 6, 0, tzinfo=dt.UTC)

LEDGER_TABLES = (
    "log_pending", "log_leaves", "checkpoints", "merkle_tiles", "log_state", "events",
    "fill_checks", "retired_codes", "cylinder_states", "cylinders",
)  # fmt: skip
pg_only = pytest.mark.skipif(
    PG_URL is None, reason="partitions exist on PostgreSQL only: set TEST_DATABASE_URL"
)


@dataclass
class Ledger:
    engine: Engine
    url: str
    admin: Actor
    regulator: Actor


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """An empty PostgreSQL schema of its own; its URL."""
    assert PG_URL is not None
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield _pg_schema_url(schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def build(url: str, revision: str) -> Ledger:
    """Migrate to ``revision``; an enterprise admin and a regulator."""
    upgrade(url, revision)
    engine = make_engine(url)
    with transaction(engine) as s:
        ensure_server_key(s, AUTHORITY)
        ent = registry.add_enterprise(s, "重庆渝安燃气有限公司")
        admin, _ = registry.add_actor(s, "管理员", Role.ENTERPRISE_ADMIN, enterprise=ent)
        regulator, _ = registry.add_actor(s, "渝北区市场监管局", Role.REGULATOR)
    return Ledger(engine, url, admin, regulator)


def register(ledger: Ledger, now: dt.datetime) -> str:
    """Register a cylinder at ``now``; its code."""
    data = {
        "serial": f"S{uuid.uuid4().hex[:8]}", "manufacturer": "浙江金盾", "model": "YSP35.5",
        "manufactured_on": (now - dt.timedelta(days=400)).date().isoformat(),
        "capacity_kg": 15.0, "tare_kg": 16.8,
    }  # fmt: skip
    with transaction(ledger.engine) as s:
        cylinder, _ = service.register_cylinder(s, AUTHORITY, ledger.admin, data, now)
    return cylinder.code


def hold(ledger: Ledger, code: str, now: dt.datetime, event_id: str | None = None) -> str:
    """A regulator holds the cylinder at ``now``; the event id."""
    with transaction(ledger.engine) as s:
        result = service.append_event(
            s, AUTHORITY, ledger.regulator, code, "held", {"reason": "抽查"}, now,
            event_id=event_id,
        )  # fmt: skip
    return result.event.id


def checkpoint(ledger: Ledger) -> None:
    with transaction(ledger.engine) as s:
        log.integrate(s)
        log.publish_checkpoint(s, AUTHORITY.server, ORIGIN)


def rows(conn: Connection) -> dict[str, tuple[str, bytes, str]]:
    """Every event: id → (month, hash, the table that holds it)."""
    query = "SELECT id, to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY_MM'), hash, "
    query += "tableoid::regclass::text FROM events"
    return {i: (m, bytes(h), t) for i, m, h, t in conn.execute(text(query))}


def waiting_on(conn: Connection, name: str) -> bool:
    """True when some transaction waits for the advisory lock ``name`` of this schema
    (ledger.store.advisory_lock's key: the low 32 bits are pg_locks' objid)."""
    query = (
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
        "AND objid::bigint = hashtext(current_schema() || ':' || :n)::bigint & 4294967295)"
    )
    return bool(conn.execute(text(query), {"n": name}).scalar())


def audited_ok(ledger: Ledger) -> bool:
    report = audit(ledger.engine, VERIFIER, ORIGIN, workers=1)
    assert report.ok, report.problems
    return report.events > 0


def months_history(url: str) -> Ledger:
    """A ledger at 0005 with events in August, September and October, checkpointed."""
    ledger = build(url, "0005")
    for now in (AUG, SEP, OCT):
        code = register(ledger, now)
        hold(ledger, code, now + dt.timedelta(days=1))
    checkpoint(ledger)
    return ledger


@pg_only
def test_the_upgrade_keeps_every_event_and_puts_each_in_its_months_partition(pg_schema):
    ledger = months_history(pg_schema)
    with ledger.engine.connect() as conn:
        before = rows(conn)
    upgrade(pg_schema)
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
def test_the_downgrade_restores_the_plain_table_with_its_unique_keys(pg_schema):
    ledger = months_history(pg_schema)
    upgrade(pg_schema)
    hold(ledger, register(ledger, NOW), NOW)
    with ledger.engine.connect() as conn:
        before = rows(conn)
    from alembic import command

    from ledger.store import alembic_config

    command.downgrade(alembic_config(pg_schema), "0005")
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
    upgrade(pg_schema)  # and up again
    with ledger.engine.connect() as conn:
        assert len(rows(conn)) == 8
    ledger.engine.dispose()


@pytest.fixture
def pg_ledger(pg_schema: str) -> Iterator[Ledger]:
    ledger = build(pg_schema, "head")
    with ledger.engine.begin() as conn:  # the migration's months depend on the real clock
        partitions.ensure_partitions(conn, NOW, since=AUG)
    yield ledger
    ledger.engine.dispose()


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
