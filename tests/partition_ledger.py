"""A small ledger on its own PostgreSQL schema, for the tests of the monthly partitions of
``events`` (tests/integration/test_partitions*.py)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import Engine

from ledger import log, partitions, registry, service
from ledger.audit import audit
from ledger.authority import Authority, ensure_server_key
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
    "log_pending", "log_leaves", "checkpoints", "merkle_tiles", "log_state", "events", "event_ids",
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


@contextmanager
def pg_schema() -> Iterator[str]:
    """An empty PostgreSQL schema of its own, dropped afterwards; its URL."""
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


@pytest.fixture
def schema_url() -> Iterator[str]:
    """A PostgreSQL schema of the test's own."""
    with pg_schema() as url:
        yield url


@pytest.fixture
def pg_ledger(schema_url: str) -> Iterator[Ledger]:
    """A ledger at the head revision with partitions from August to three months ahead."""
    ledger = build(schema_url, "head")
    with ledger.engine.begin() as conn:  # the migration's months depend on the real clock
        partitions.ensure_partitions(conn, NOW, since=AUG)
    yield ledger
    ledger.engine.dispose()


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
