"""The ledger's read models for the pages, without Flask: EPCIS identifiers, people."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from ledger import epcis, people
from ledger.events import ZERO_HASH
from ledger.model import Cylinder, Event

NOW = dt.datetime(2026, 11, 23, 6, 0, tzinfo=dt.UTC)


def _cylinder(code: str = "AB12CD34EF5") -> Cylinder:
    return Cylinder(
        id=str(uuid.uuid4()),
        code=code,
        serial="S1",
        manufacturer="m",
        manufactured_on=dt.date(2024, 1, 1),
        model="YSP35.5",
        capacity_kg=15.0,
        tare_kg=16.8,
        owner_id=1,
        head_hash=ZERO_HASH,
    )


def _event(kind: str, payload: str = "{}", station: int | None = None) -> Event:
    return Event(
        id=str(uuid.uuid4()),
        cylinder_id="c",
        seq=1,
        type=kind,
        occurred_at=NOW,
        recorded_at=NOW,
        actor_id=1,
        station_id=station,
        payload=payload,
        prev_hash=ZERO_HASH,
        hash=bytes(range(32)),
        key_id="k",
        signature=b"s",
    )


def test_a_grai_needs_a_gs1_prefix() -> None:
    cylinder = _cylinder()
    assert epcis.identifier(cylinder, "6901234") == "urn:epc:id:grai:6901234.00015.AB12CD34EF5"
    assert epcis.identifier(cylinder, None) == f"urn:cylinder-ledger:cylinder:{cylinder.id}"
    assert epcis.identifier(cylinder, "12ab").startswith("urn:cylinder-ledger:")
    long_code = _cylinder("A" * 18)
    assert epcis.identifier(long_code, "6901234").startswith("urn:cylinder-ledger:")


def test_events_map_to_cbv_steps_actions_and_locations() -> None:
    doc = epcis.document(
        _cylinder(),
        [_event("registered"), _event("filled", '{"net_kg":14.5}', station=3), _event("scrapped")],
        "6901234",
        NOW,
    )
    events = doc["epcisBody"]["eventList"]
    own = "https://cylinder-ledger.example/voc/bizstep/filling"
    assert [e["bizStep"] for e in events] == ["commissioning", own, "destroying"]
    assert [e["action"] for e in events] == ["ADD", "OBSERVE", "DELETE"]
    assert events[1]["readPoint"] == {"id": "urn:cylinder-ledger:station:3"}
    assert events[1]["cl:payload"] == {"net_kg": 14.5}
    assert events[0]["eventTime"].endswith("Z") or events[0]["eventTime"].endswith("+00:00")


def test_every_event_type_has_a_cbv_2_step_or_a_full_uri_of_our_own() -> None:
    from ledger.events import EVENT_TYPES

    cbv_2 = {
        "accepting", "arriving", "assembling", "collecting", "commissioning", "consigning",
        "creating_class_instance", "cycle_counting", "decommissioning", "departing",
        "destroying", "disassembling", "dispensing", "encoding", "entering_exiting", "holding",
        "inspecting", "installing", "killing", "loading", "other", "packing", "picking",
        "receiving", "removing", "repackaging", "repairing", "replacing", "reserving",
        "retail_selling", "sampling", "sensor_reporting", "shipping", "staging_outbound",
        "stock_taking", "stocking", "storing", "transporting", "unloading", "unpacking",
        "void_shipping",
    }  # fmt: skip
    for kind in EVENT_TYPES:
        step = epcis.biz_step(kind, "ledger.test/log")
        assert step in cbv_2 or step.startswith("https://ledger.test/voc/bizstep/"), kind
    assert epcis.biz_step("returned") == "collecting"
    assert epcis.biz_step("dispatched") == "shipping"


def test_a_password_hash_is_argon2id_and_verifies_only_its_password() -> None:
    hashed = people.hash_password("correct horse battery")
    assert hashed.startswith("$argon2id$")
    assert "correct horse" not in hashed


def test_stale_and_expiring_lists_follow_the_clock(client: Any, demo: Any, app: Any) -> None:
    from app.runtime import runtime
    from ledger import oversight
    from ledger.store import transaction
    from tests.flows import register

    code = register(client, demo, manufactured_on="2024-03-01")
    with app.app_context(), transaction(runtime().engine, write=False) as session:
        rt = runtime()
        now = rt.now()
        assert code not in [r.code for r in oversight.stale(session, now, 30)]
        later = now + dt.timedelta(days=31)
        assert code in [r.code for r in oversight.stale(session, later, 30)]
        due = [r for r in oversight.overdue(session, now.date()) if r.code == code]
        assert not due
        row = next(r for r in oversight.stale(session, later, 30) if r.code == code)
        just_before = row.next_inspection_due - dt.timedelta(days=5)
        assert code in [r.code for r in oversight.expiring(session, just_before, rt.params)]
        assert code in [r.code for r in oversight.overdue(session, row.next_inspection_due)]
