"""A fill check reads the cylinder without locks; a check that blocks locks the chain's
head and reads it again. These tests put a change of the chain between the two reads
(as another request would) and show the answer and the record follow the locked state."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import select

from ledger import checks, registry, scanned
from ledger.model import Cylinder, Event
from ledger.model_rules import FillCheck
from ledger.store import reads_beside, transaction
from tests import flows


def _blocked_events(session: Any, code: str) -> int:
    return len(_blocks(session, code))


@pytest.fixture
def stale_read(monkeypatch: pytest.MonkeyPatch, app: Any) -> Any:
    """Make the next check's unlocked read return what was read before ``change`` ran."""
    rt = app.extensions["ledger"]

    def arrange(code: str, change: Any) -> None:
        with transaction(rt.engine, write=False) as s:
            stale = scanned.resolve(s, code, rt.params)
        change()  # committed by another request after the check read the cylinder
        real = scanned.resolve

        def once(session: Any, code: str, params: Any) -> Any:
            monkeypatch.setattr(scanned, "resolve", real)
            return stale

        monkeypatch.setattr(scanned, "resolve", once)

    return arrange


def _check(app: Any, demo: Any, code: str) -> checks.CheckResult:
    """As the API does: the reads beside the write transaction (on SQLite, another
    connection, outside the write lock), the block and the decision's row in it."""
    rt = app.extensions["ledger"]
    with transaction(rt.engine) as s, reads_beside(s) as reads:
        station = registry.actor_for_token(reads, demo["tokens"]["station_a"])
        assert station is not None
        return checks.fill_check(
            s, rt.authority, station, demo["stations"]["a"], code, dt.datetime.now(dt.UTC),
            rt.params, reads=reads,
        )  # fmt: skip


def test_a_hold_released_meanwhile_allows_and_records_no_block(app, client, demo, stale_read):
    code = flows.register(client, demo)
    held = flows.event(client, demo, code, "regulator", "held", {"reason": "抽查"})
    assert held.status_code == 201
    stale_read(code, lambda: flows.event(client, demo, code, "regulator", "released", {}))
    result = _check(app, demo, code)
    assert result.decision.allowed, result.decision.to_dict()
    with transaction(app.extensions["ledger"].engine) as s:
        assert _blocked_events(s, code) == 0
        kept = s.get(FillCheck, result.check_id)
        assert kept is not None and kept.allowed and kept.event_id is None


def _blocks(session: Any, code: str) -> list[dict[str, Any]]:
    rows = session.execute(select(Event.payload).where(Event.type == "fill_blocked"))
    return [p for p in map(json.loads, rows.scalars()) if p["scan"] == code]


def test_a_hold_placed_meanwhile_blocks_on_the_locked_chain(app, client, demo, stale_read):
    code = flows.register(client, demo)
    stale_read(code, lambda: flows.event(client, demo, code, "regulator", "held", {"reason": "x"}))
    # Read as legal, held before the lock: an allowing answer takes no lock, so this check
    # allows (the hold came after its read, as if the scan had come a moment earlier) ...
    assert _check(app, demo, code).decision.allowed
    # ... and the next one blocks, on the chain as it is now, with one fill_blocked event.
    result = _check(app, demo, code)
    assert not result.decision.allowed and "HELD" in result.decision.codes
    with transaction(app.extensions["ledger"].engine) as s:
        assert [b["reasons"] for b in _blocks(s, code)] == [list(result.decision.codes)]


def test_a_block_records_the_reasons_of_the_chain_as_locked(app, client, demo, stale_read):
    code = flows.register(client, demo)
    flows.event(client, demo, code, "regulator", "held", {"reason": "抽查"})
    # Reported refurbished between the read (held only) and the lock: the answer and the
    # recorded block both carry the reasons of the chain as locked.
    report = {"kind": "refurbished"}
    stale_read(code, lambda: flows.event(client, demo, code, "driver_a", "reported", report))
    result = _check(app, demo, code)
    assert {"HELD", "REFURBISHED"} <= set(result.decision.codes)
    with transaction(app.extensions["ledger"].engine) as s:
        assert [b["reasons"] for b in _blocks(s, code)] == [list(result.decision.codes)]
        assert result.state is not None and result.state.seq == _head_seq(s, code)


def _head_seq(session: Any, code: str) -> int:
    return int(session.execute(select(Cylinder.head_seq).where(Cylinder.code == code)).scalar())
