"""PostgreSQL records a refused fill check in one statement (``ledger.blocks.at_once``),
on the condition that the chain's head has not moved since it was read. These tests show
it writes what the locked way writes, and nothing at all on a head that moved, where the
locked way then seals the event again once."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import func, select

from ledger import blocks, checks, registry, scanned, writer
from ledger.model import Event, LogPending
from ledger.model_rules import FillCheck
from ledger.store import reads_beside, transaction
from tests import flows


@pytest.fixture
def pg(app: Any) -> Any:
    if app.extensions["ledger"].engine.dialect.name != "postgresql":
        pytest.skip("the one-statement block is PostgreSQL's")
    return app


def _check(app: Any, demo: Any, code: str) -> checks.CheckResult:
    rt = app.extensions["ledger"]
    with transaction(rt.engine) as s, reads_beside(s) as reads:
        station = registry.actor_for_token(reads, demo["tokens"]["station_a"])
        assert station is not None
        return checks.fill_check(
            s, rt.authority, station, demo["stations"]["a"], code, dt.datetime.now(dt.UTC),
            rt.params, reads=reads,
        )  # fmt: skip


def _counts(app: Any) -> tuple[int, int, int]:
    with transaction(app.extensions["ledger"].engine, write=False) as s:
        return (
            s.execute(select(func.count()).select_from(Event)).scalar_one(),
            s.execute(select(func.count()).select_from(LogPending)).scalar_one(),
            s.execute(select(func.count()).select_from(FillCheck)).scalar_one(),
        )


def test_blocks_in_one_statement_record_what_the_locked_way_records(
    pg: Any, client: Any, demo: Any, runner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = flows.register(client, demo)
    flows.event(client, demo, code, "regulator", "held", {"reason": "抽查"})
    taken = []
    real = blocks.at_once
    monkeypatch.setattr(blocks, "at_once", lambda *a: taken.append(real(*a)) or taken[-1])
    results = [_check(pg, demo, code) for _ in range(3)]
    # The server key is on record (registration signed with it): every block is one
    # statement, none fell back to the lock.
    assert taken == [True, True, True]
    assert all("HELD" in r.decision.codes for r in results)
    with transaction(pg.extensions["ledger"].engine, write=False) as s:
        events = s.execute(
            select(Event).where(Event.type == "fill_blocked").order_by(Event.seq)
        ).scalars()
        blocked = [e for e in events if json.loads(e.payload)["scan"] == code]
        assert [e.seq for e in blocked] == [3, 4, 5]
        queued = set(s.execute(select(LogPending.event_id)).scalars())
        assert {e.id for e in blocked} <= queued
        for result, event in zip(results, blocked, strict=True):
            kept = s.get(FillCheck, result.check_id)
            assert kept is not None and not kept.allowed and kept.event_id == event.id
            assert result.state is not None and result.state.seq == event.seq
            assert result.cylinder is not None and result.cylinder.head_hash == event.hash
    # The chains verify and the projection is the fold of the events.
    audited = runner.invoke(args=["ledger", "audit"])
    assert audited.exit_code == 0, audited.output


def test_a_head_that_moved_gets_nothing_written(pg: Any, client: Any, demo: Any) -> None:
    code = flows.register(client, demo)
    flows.event(client, demo, code, "regulator", "held", {"reason": "抽查"})
    _check(pg, demo, code)  # the server key is on record from here on
    rt = pg.extensions["ledger"]
    with transaction(rt.engine, write=False) as s:
        stale = scanned.resolve(s, code, rt.params)
    flows.event(client, demo, code, "regulator", "released", {})  # the chain moves on
    before = _counts(pg)
    with transaction(rt.engine) as s, reads_beside(s) as reads:
        actor = registry.actor_for_token(reads, demo["tokens"]["station_a"])
        assert actor is not None and stale.head is not None and stale.state is not None
        payload = {"station_id": demo["stations"]["a"], "reasons": ["HELD"], "scan": code}
        row = {
            "id": "00000000-0000-4000-8000-00000000b10c", "cylinder_id": stale.cylinder_id,
            "station_id": demo["stations"]["a"], "actor_id": actor.id, "code": code,
            "allowed": False, "decision": "{}", "event_id": None,
            "checked_at": dt.datetime.now(dt.UTC),
        }  # fmt: skip
        made = blocks.sealed(
            rt.authority, actor, stale.head, stale.state, payload, dt.datetime.now(dt.UTC),
            rt.params,
        )  # fmt: skip
        written = blocks.at_once(reads, rt.authority, stale.head, made, rt.params, row)
    assert written is False
    assert _counts(pg) == before


def test_a_block_on_a_head_that_moved_is_sealed_again_once(
    pg: Any, client: Any, demo: Any, runner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The event sealed on the head as read goes to the one statement; when the head moved
    meanwhile it is sealed again on the locked head, once (not also before the lock)."""
    code = flows.register(client, demo)
    flows.event(client, demo, code, "regulator", "held", {"reason": "抽查"})
    rt = pg.extensions["ledger"]
    with transaction(rt.engine, write=False) as s:
        stale = scanned.resolve(s, code, rt.params)
    _check(pg, demo, code)  # another nozzle's refused check moves the chain on
    real_resolve = scanned.resolve

    def once(session: Any, code: str, params: Any) -> Any:
        monkeypatch.setattr(scanned, "resolve", real_resolve)
        return stale

    monkeypatch.setattr(scanned, "resolve", once)
    real_seal, sealed = writer.seal_event, []
    monkeypatch.setattr(writer, "seal_event", lambda *a: sealed.append(real_seal(*a)) or sealed[-1])
    result = _check(pg, demo, code)
    assert "HELD" in result.decision.codes
    assert stale.seq is not None and [e.seq for e in sealed] == [stale.seq + 1, stale.seq + 2]
    with transaction(rt.engine, write=False) as s:
        kept = s.get(FillCheck, result.check_id)
        assert kept is not None and kept.event_id == sealed[-1].id
        stored = s.get(Event, sealed[-1].id)
        assert stored is not None and stored.hash == sealed[-1].hash
        assert s.get(Event, sealed[0].id) is None
    audited = runner.invoke(args=["ledger", "audit"])
    assert audited.exit_code == 0, audited.output
