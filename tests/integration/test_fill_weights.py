"""``fill_weights``: each fill's net weight on record, written with its event, backfilled by
migration 0013, read by the regulator's short-weight list (ledger/fill_weights.py).

The list must say what it said when it was read from the events: a fill since the time
whose gross − the registered tare (to the gram) is below the rated fill less the
tolerance, newest first.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import delete, select, text
from sqlmodel import SQLModel, col

import ledger.audit
from ledger import fill_weights, oversight, projection
from ledger.model import Cylinder, Event
from ledger.model_rules import FillWeight
from ledger.params import DEFAULT, Jurisdiction
from ledger.store import alembic_config, transaction
from tests.flows import check, event, fill, register

DAY = dt.timedelta(days=1)
# Nets around the rated 15.0 kg with the default 0.5 kg tolerance: short below 14.5.
NETS = (15.0, 14.5, 14.49, 14.2, 13.0, 15.6, 14.51, 0.4)


def _engine(app: Any) -> Any:
    return app.extensions["ledger"].engine


def _fills(client: Any, demo: Any, nets: tuple[float, ...] = NETS) -> dict[str, float]:
    """One cylinder filled with each net (gross = registered tare 16.8 + net); code → net."""
    out = {}
    for net in nets:
        code = register(client, demo)
        resp = fill(client, demo, code, net=net)
        assert resp.status_code == 201, resp.get_json()
        out[code] = net
    return out


def _from_the_events(app: Any, since: dt.datetime, params: Jurisdiction) -> list[Any]:
    """The list as its definition reads it off the events alone: (time, code, net, rated)."""
    query = (
        select(
            col(Event.occurred_at),
            col(Event.id),
            col(Event.payload),
            col(Cylinder.code),
            col(Cylinder.tare_kg),
            col(Cylinder.capacity_kg),
        )
        .join(Cylinder, col(Cylinder.id) == col(Event.cylinder_id))
        .where(col(Event.type) == "filled")
    )
    rows = []
    with transaction(_engine(app), write=False) as s:
        for at, event_id, payload, code, tare, capacity in s.execute(query):
            net = round(float(json.loads(payload)["gross_kg"]) - tare, 3)
            if at >= since and net < capacity - params.fill_tolerance_kg:
                rows.append((at, event_id, code, net, capacity))
    rows.sort(key=lambda r: (r[0], r[1]), reverse=True)
    return [(at, code, net, capacity) for at, _id, code, net, capacity in rows]


def _listed(app: Any, since: dt.datetime, params: Jurisdiction = DEFAULT) -> tuple[int, list[Any]]:
    listing = oversight.short_weight_listing(since, params)
    with transaction(_engine(app), write=False) as s:
        total = oversight.count(s, listing)
        rows = [(r.at, r.code, r.net_kg, r.capacity_kg) for r in oversight.page(s, listing)]
    return total, rows


def _stored(app: Any) -> list[dict[str, Any]]:
    with transaction(_engine(app), write=False) as s:
        rows = s.execute(select(FillWeight).order_by(col(FillWeight.event_id))).scalars()
        return [r.model_dump() for r in rows]


def test_the_list_holds_exactly_the_fills_short_by_more_than_the_tolerance(app, client, demo):
    nets = _fills(client, demo)
    since = dt.datetime.now(dt.UTC) - DAY
    expected = _from_the_events(app, since, DEFAULT)
    total, rows = _listed(app, since)
    assert total == len(rows) == len(expected) == 4  # 14.49, 14.2, 13.0 and 0.4
    assert rows == expected
    short = {code for code, net in nets.items() if net < 14.5}
    assert {code for _at, code, _net, _cap in rows} == short
    # As the fill-time rule judged each one (the projection's short_weight flag).
    with transaction(_engine(app), write=False) as s:
        for code, net in nets.items():
            cylinder = s.execute(select(Cylinder).where(col(Cylinder.code) == code)).scalar_one()
            state = projection.load(s, cylinder.id)
            assert state is not None and state.short_weight == (code in short), (code, net)


def test_the_tolerance_is_read_at_query_time_and_the_window_by_the_fills_time(app, client, demo):
    _fills(client, demo)
    now = dt.datetime.now(dt.UTC)
    strict = Jurisdiction(fill_tolerance_kg=0.0)  # every fill below its rated fill
    total, rows = _listed(app, now - DAY, strict)
    assert total == 6 and rows == _from_the_events(app, now - DAY, strict)
    assert _listed(app, now + DAY) == (0, [])


def test_each_fill_writes_its_row_judged_on_the_registered_tare(app, client, demo):
    code = register(client, demo, capacity_kg=14.5, tare_kg=15.0)
    assert check(client, demo, code).get_json()["allowed"]
    # The station's own tare (15.2) and net are not the figures on record.
    payload = {"station_id": demo["stations"]["a"], "gross_kg": 29.15, "tare_kg": 15.2}
    resp = event(client, demo, code, "station_a", "filled", {**payload, "net_kg": 13.95})
    assert resp.status_code == 201, resp.get_json()
    (row,) = [r for r in _stored(app) if r["event_id"] == resp.get_json()["id"]]
    assert row["net_kg"] == 14.15 and row["capacity_kg"] == 14.5
    assert row["station_id"] == demo["stations"]["a"]
    assert _listed(app, dt.datetime.now(dt.UTC) - DAY) == (0, [])  # 14.15 ≥ 14.5 − 0.5


def test_a_refused_fill_writes_no_row(app, client, demo):
    code = register(client, demo)
    payload = {"station_id": demo["stations"]["a"], "gross_kg": 30.0, "net_kg": 13.2}
    refused = event(client, demo, code, "station_a", "filled", payload)  # no fill check
    assert refused.status_code == 409
    assert _stored(app) == []


def test_the_migration_backfills_the_fills_already_stored(app, client, demo, db_url):
    _fills(client, demo)
    before = _stored(app)
    assert len(before) == len(NETS)
    command.downgrade(alembic_config(db_url), "0012")
    with _engine(app).connect() as conn:
        assert "fill_weights" not in conn.dialect.get_table_names(conn)
    command.upgrade(alembic_config(db_url), "head")
    _engine(app).dispose()  # PostgreSQL caches the dropped table's row type per connection
    assert _stored(app) == before
    with transaction(_engine(app)) as s:  # PostgreSQL streams in a transaction
        expected = list(fill_weights.expected_rows(s.connection()))
    assert sorted(expected, key=lambda r: r["event_id"]) == before


def test_rebuild_repairs_an_edited_or_missing_row(app, client, demo, runner):
    _fills(client, demo)
    before = _stored(app)
    with transaction(_engine(app)) as s:
        s.execute(delete(FillWeight).where(col(FillWeight.event_id) == before[0]["event_id"]))
        s.execute(text("UPDATE fill_weights SET net_kg = 1.0"))
    result = runner.invoke(args=["ledger", "rebuild-fill-weights"])
    assert result.exit_code == 0, result.output
    assert f"rebuilt the weights of {len(NETS)} fills" in result.output
    assert _stored(app) == before


def test_the_migration_makes_the_table_and_index_the_model_describes(app):
    with _engine(app).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert [d for d in diff if "fill_weights" in repr(d)] == []


def test_the_count_and_the_page_read_the_partial_index(app, client, demo):
    _fills(client, demo)
    listing = oversight.short_weight_listing(dt.datetime.now(dt.UTC) - DAY, DEFAULT)
    with transaction(_engine(app)) as s:  # SET LOCAL needs a transaction
        conn = s.connection()
        prefix = "EXPLAIN QUERY PLAN" if conn.dialect.name == "sqlite" else "EXPLAIN"
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL enable_seqscan = off"))
        assert listing.counted is not None
        for stmt in (listing.counted, listing.query.limit(50)):
            compiled = stmt.compile(conn, compile_kwargs={"literal_binds": True})
            plan = " ".join(str(r) for r in conn.execute(text(f"{prefix} {compiled}")))
            assert "ix_fill_weights_below_rated" in plan, plan


@pytest.mark.parametrize("chunk", [1, 2000])
def test_the_audit_names_each_row_out_of_step_with_the_events(
    app, client, demo, runner, chunk, monkeypatch
):
    _fills(client, demo, (14.0, 15.0, 13.5))
    assert runner.invoke(args=["ledger", "audit"]).exit_code == 0
    edited, gone, _kept = _stored(app)
    with transaction(_engine(app)) as s:
        table = FillWeight.__table__  # type: ignore[attr-defined]
        s.execute(table.update().where(table.c.event_id == edited["event_id"]).values(net_kg=15))
        s.execute(delete(FillWeight).where(col(FillWeight.event_id) == gone["event_id"]))
        s.execute(table.insert().values({**gone, "event_id": "not-an-event"}))
    monkeypatch.setattr(ledger.audit, "CHUNK", chunk)
    result = runner.invoke(args=["ledger", "audit"])
    assert result.exit_code == 1
    out = result.output
    assert out.startswith("OK 账本完整:")  # the evidence is intact …
    assert "FILL_WEIGHTS 称重记录不一致: 3 finding(s)" in out and fill_weights.REPAIR in out
    lines = [line for line in out.splitlines() if line.startswith("  fill_weights:")]
    assert len(lines) == 3
    (differs,) = [line for line in lines if edited["event_id"] in line]
    assert f"net_kg: stored 15.0, from the events {edited['net_kg']!r}" in differs
    assert any(gone["event_id"] in line and "no fill_weights row" in line for line in lines)
    assert any("not-an-event" in line and "names no filled event" in line for line in lines)
    assert runner.invoke(args=["ledger", "rebuild-fill-weights"]).exit_code == 0
    assert runner.invoke(args=["ledger", "audit"]).exit_code == 0
