"""What a station decided offline, sent on reconnect: fills and blocked checks.

An offline fill happened and is recorded, but only from the station's own device, with
its own time (not in the future, at most 7 days old); the server judges it as of then and
reports a conflict to the regulator. It never brings a condemned or scrapped cylinder back.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from ledger import projection, registry
from ledger.model import Enterprise, Role, Station
from ledger.store import transaction
from tests import flows
from tests.conftest import bearer


def fill_payload(demo: Any, net: float = 15.0, station: str = "a") -> dict[str, Any]:
    return {"station_id": demo["stations"][station], "gross_kg": round(16.8 + net, 2),
            "tare_kg": 16.8, "net_kg": net, "offline": True}  # fmt: skip


def ago(**delta: float) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(**delta)).isoformat()


def offline_fill(client: Any, demo: Any, code: str, when: str | None = None, **kw: Any) -> Any:
    extra = {"occurred_at": when or ago(minutes=30)}
    who = kw.pop("who", "station_a")
    return flows.event(client, demo, code, who, "filled", fill_payload(demo, **kw), **extra)


def conflict(resp: Any) -> list[str]:
    assert resp.status_code == 201, resp.get_json()
    return [r["code"] for r in resp.get_json().get("offline_conflict", [])]


def status(client: Any, code: str) -> str:
    state: str = client.get(f"/api/v1/cylinders/{code}").get_json()["status"]
    return state


def test_an_offline_fill_the_rules_would_have_blocked_is_recorded_and_reported(client, demo):
    code = flows.register(client, demo, manufactured_on="2022-05-01")  # overdue
    assert conflict(offline_fill(client, demo, code)) == ["INSPECTION_OVERDUE"]
    events = flows.history(client, demo, code)
    assert [e["type"] for e in events] == ["registered", "filled", "reported"]
    assert events[-1]["payload"]["kind"] == "offline_conflict"


def test_an_offline_fill_of_a_legal_cylinder_is_simply_recorded(client, demo):
    code = flows.register(client, demo)
    assert conflict(offline_fill(client, demo, code)) == []
    assert [e["type"] for e in flows.history(client, demo, code)] == ["registered", "filled"]


def test_an_offline_fill_is_judged_as_of_when_it_happened(client, demo):
    due = flows.local_today() - dt.timedelta(days=2)
    inspected = due.replace(year=due.year - 4).isoformat()  # due two days ago
    before, after = (
        flows.register(client, demo, manufactured_on="2020-01-01", last_inspected_on=inspected)
        for _ in "ab"
    )
    assert conflict(offline_fill(client, demo, before, ago(days=3))) == []
    assert conflict(offline_fill(client, demo, after, ago(days=1))) == ["INSPECTION_OVERDUE"]


def test_nobody_files_an_offline_conflict_by_hand(client, demo):
    code = flows.register(client, demo)
    resp = flows.event(client, demo, code, "enterprise_a", "reported", {"kind": "offline_conflict"})
    assert resp.status_code == 422


def _scrap(client: Any, demo: Any, code: str) -> None:
    assert flows.event(client, demo, code, "inspector", "scrapped", {}).status_code == 201


def _condemn(client: Any, demo: Any, code: str) -> None:
    resp = flows.event(client, demo, code, "inspector", "inspected", {"result": "fail"})
    assert resp.status_code == 201


@pytest.mark.parametrize(("end", "expected"), [(_scrap, "scrapped"), (_condemn, "condemned")])
def test_an_offline_fill_never_brings_a_scrapped_or_condemned_cylinder_back(
    app, client, demo, end, expected
):
    code = flows.register(client, demo)
    end(client, demo, code)
    assert conflict(offline_fill(client, demo, code)) == ["SCRAPPED"]
    assert status(client, code) == expected
    back = flows.event(client, demo, code, "driver_a", "returned", {})
    assert back.status_code == 409, back.get_json()
    assert back.get_json()["reasons"][0]["code"] == "ILLEGAL_TRANSITION"
    check = flows.check(client, demo, code).get_json()
    assert check["allowed"] is False and "SCRAPPED" in [r["code"] for r in check["reasons"]]
    online = {k: v for k, v in fill_payload(demo).items() if k != "offline"}
    refused = flows.event(client, demo, code, "station_a", "filled", online)
    assert refused.status_code == 409 and status(client, code) == expected
    rt = app.extensions["ledger"]
    cylinder_id = client.get(f"/api/v1/cylinders/{code}").get_json()["id"]
    with transaction(rt.engine) as s:
        stored = projection.load(s, cylinder_id)
        assert stored == projection.fold_from_events(s, cylinder_id, rt.params)
        assert stored is not None and stored.status == expected


@pytest.mark.parametrize(
    ("when", "word"),
    [(None, "occurred_at"), ("future", "future"), ("old", "older than 7 days")],
)
def test_an_offline_fill_needs_its_own_recent_past_time(client, demo, when, word):
    code = flows.register(client, demo)
    extra: dict[str, Any] = {}
    if when == "future":
        extra["occurred_at"] = ago(hours=-1)
    elif when == "old":
        extra["occurred_at"] = ago(days=8)
    resp = flows.event(client, demo, code, "station_a", "filled", fill_payload(demo), **extra)
    assert resp.status_code == 422 and word in resp.get_json()["detail"]
    assert len(flows.history(client, demo, code)) == 1


def _person_operator(app: Any, demo: Any) -> str:
    """A filling operator of enterprise A who is a person, not the station's device."""
    with transaction(app.extensions["ledger"].engine) as s:
        station = s.get(Station, demo["stations"]["a"])
        assert station is not None
        ent = s.get(Enterprise, station.enterprise_id)
        _, token = registry.add_actor(s, "充装工张三", Role.FILLING_OPERATOR, enterprise=ent)
    return token


def test_only_the_stations_own_device_records_an_offline_fill(app, client, demo):
    code = flows.register(client, demo)
    token = _person_operator(app, demo)
    body = {"type": "filled", "payload": fill_payload(demo), "occurred_at": ago(minutes=5)}
    person = client.post(f"/api/v1/cylinders/{code}/events", json=body, headers=bearer(token))
    assert person.status_code == 403, person.get_json()
    other = flows.event(client, demo, code, "station_b", "filled", fill_payload(demo),
                        occurred_at=ago(minutes=5))  # fmt: skip
    assert other.status_code == 403
    assert len(flows.history(client, demo, code)) == 1


# --- a blocked check sent by the station itself ----------------------------------------


def blocked(demo: Any, station: str = "a", **over: Any) -> dict[str, Any]:
    return {"station_id": demo["stations"][station], "reasons": ["INSPECTION_OVERDUE"],
            "offline": True, **over}  # fmt: skip


@pytest.mark.parametrize(
    ("who", "payload", "status_code"),
    [
        ("station_a", lambda d: blocked(d, station_id=999999), 404),
        ("station_b", lambda d: blocked(d), 403),  # names station A
        ("station_a", lambda d: blocked(d, reasons=["MADE_UP"]), 422),
        ("station_a", lambda d: blocked(d, reasons=["SHORT_WEIGHT"]), 422),  # a warning
    ],
)
def test_a_posted_fill_blocked_names_the_stations_own_nozzle_and_known_reasons(
    client, demo, who, payload, status_code
):
    code = flows.register(client, demo, manufactured_on="2022-05-01")
    resp = flows.event(client, demo, code, who, "fill_blocked", payload(demo),
                       occurred_at=ago(minutes=5))  # fmt: skip
    assert resp.status_code == status_code, resp.get_json()
    assert len(flows.history(client, demo, code)) == 1


def test_a_check_blocked_offline_is_recorded_on_any_enterprises_cylinder(client, demo):
    theirs = flows.register(client, demo, who="enterprise_b")
    payload = blocked(demo, reasons=["NOT_OWNED"], scan=theirs)
    missing = flows.event(client, demo, theirs, "station_a", "fill_blocked", payload)
    assert missing.status_code == 422  # offline: its own time is required
    resp = flows.event(client, demo, theirs, "station_a", "fill_blocked", payload,
                       occurred_at=ago(hours=2))  # fmt: skip
    assert resp.status_code == 201, resp.get_json()
    last = flows.history(client, demo, theirs)[-1]
    assert last["type"] == "fill_blocked" and last["station"] == demo["stations"]["a"]


def _times(client: Any, demo: Any, code: str) -> list[dt.datetime]:
    return [dt.datetime.fromisoformat(e["occurred_at"]) for e in flows.history(client, demo, code)]


def _between(a: dt.datetime, b: dt.datetime) -> str:
    return (a + (b - a) / 2).isoformat()


def test_a_hold_placed_after_an_offline_fill_is_no_conflict_of_that_fill(client, demo):
    code = flows.register(client, demo)
    flows.event(client, demo, code, "regulator", "held", {"reason": "抽查"})
    registered, held = _times(client, demo, code)
    # Filled offline before the hold, uploaded after it: legal when it happened.
    assert conflict(offline_fill(client, demo, code, _between(registered, held))) == []


def test_an_offline_fill_during_a_hold_since_released_is_a_conflict(client, demo):
    code = flows.register(client, demo)
    flows.event(client, demo, code, "regulator", "held", {"reason": "抽查"})
    flows.event(client, demo, code, "regulator", "released", {})
    _, held, released = _times(client, demo, code)
    # Filled offline while held, uploaded once released: the regulator hears of it.
    assert conflict(offline_fill(client, demo, code, _between(held, released))) == ["HELD"]


def test_a_check_key_names_an_offline_blocks_timed_out_check_only(client, demo):
    code = flows.register(client, demo)
    online = {**blocked(demo), "check_key": "k-1"}
    del online["offline"]
    resp = flows.event(client, demo, code, "station_a", "fill_blocked", online,
                       occurred_at=ago(minutes=1))  # fmt: skip
    assert resp.status_code == 422, resp.get_json()
    too_long = {**blocked(demo), "check_key": "k" * 256}
    resp = flows.event(client, demo, code, "station_a", "fill_blocked", too_long,
                       occurred_at=ago(minutes=1))  # fmt: skip
    assert resp.status_code == 422, resp.get_json()
    # A key no check of this station was made under: the offline block is the record.
    unknown = {**blocked(demo), "check_key": "never-sent"}
    resp = flows.event(client, demo, code, "station_a", "fill_blocked", unknown,
                       occurred_at=ago(minutes=1))  # fmt: skip
    assert resp.status_code == 201, resp.get_json()
    assert flows.history(client, demo, code)[-1]["payload"]["check_key"] == "never-sent"


def test_an_offline_block_after_an_allowing_check_that_timed_out_is_recorded(client, demo):
    code = flows.register(client, demo)
    allowed = flows.check(client, demo, code, **{"Idempotency-Key": "scan-7"})
    assert allowed.status_code == 200 and allowed.get_json()["allowed"] is True
    # The answer never arrived; the station's stale cache blocked: that block happened.
    payload = {**blocked(demo), "check_key": "scan-7"}
    resp = flows.event(client, demo, code, "station_a", "fill_blocked", payload,
                       occurred_at=ago(minutes=1))  # fmt: skip
    assert resp.status_code == 201, resp.get_json()
    assert [e["type"] for e in flows.history(client, demo, code)][-1] == "fill_blocked"
