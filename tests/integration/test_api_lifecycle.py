"""The cylinder's life through the API: every event type, its roles and its transitions."""

from __future__ import annotations

from typing import Any

import pytest

from ledger import projection
from ledger.store import transaction
from tests import flows
from tests.conftest import bearer

OK = flows.CHECKLIST_OK


def full(client: Any, demo: Any, **body: Any) -> str:
    code = flows.register(client, demo, **body)
    assert flows.fill(client, demo, code).status_code == 201
    return code


def on_truck(client: Any, demo: Any, **body: Any) -> str:
    code = full(client, demo, **body)
    resp = flows.event(
        client, demo, code, "driver_a", "dispatched", {"vehicle": demo["vehicles"]["a"]}
    )
    assert resp.status_code == 201, resp.get_json()
    return code


def delivered(client: Any, demo: Any) -> str:
    code = on_truck(client, demo)
    payload = {"customer_id": flows.customer(client, demo), "checklist": OK}
    resp = flows.event(client, demo, code, "driver_a", "delivered", payload)
    assert resp.status_code == 201, resp.get_json()
    return code


def types(client: Any, demo: Any, code: str) -> list[str]:
    return [e["type"] for e in flows.history(client, demo, code)]


def test_a_whole_cycle_fill_dispatch_deliver_return_and_fill_again(client, demo):
    code = delivered(client, demo)
    assert flows.event(client, demo, code, "driver_a", "returned", {}).status_code == 201
    assert flows.fill(client, demo, code).status_code == 201  # not a clone: it came back
    assert types(client, demo, code) == [
        "registered", "filled", "dispatched", "delivered", "returned", "filled",
    ]  # fmt: skip
    state = client.get(f"/api/v1/cylinders/{code}").get_json()
    assert state["status"] == "full" and state["events"] == 6


# event type → (who may, a forbidden role, how to reach a state it may follow, payload)
def _payload(kind: str, client: Any, demo: Any) -> dict[str, Any]:
    return {
        "returned": {},
        "inspected": {"result": "pass", "next_due": "2030-01-01"},
        "relabelled": {"new_code": "NEWCODE" + str(id(client) % 10000)},
        "ownership_transferred": {"to_enterprise": demo["enterprises"]["b"]},
        "reported": {"kind": "lost"},
        "held": {"reason": "涉嫌违规充装"},
        "scrapped": {},
    }[kind]


ROLES = [
    ("returned", "driver_a", "inspector", on_truck),
    ("inspected", "inspector", "driver_a", flows.register),
    ("relabelled", "enterprise_a", "driver_a", flows.register),
    ("ownership_transferred", "enterprise_a", "station_a", flows.register),
    ("reported", "driver_a", "admin", flows.register),
    ("held", "regulator", "enterprise_a", flows.register),
    ("scrapped", "inspector", "regulator", flows.register),
]


@pytest.mark.parametrize(("kind", "allowed", "forbidden", "setup"), ROLES)
def test_each_event_type_is_recorded_by_its_roles_only(
    client, demo, kind, allowed, forbidden, setup
):
    code = setup(client, demo)
    before = types(client, demo, code)
    payload = _payload(kind, client, demo)
    denied = flows.event(client, demo, code, forbidden, kind, payload)
    assert denied.status_code == 403, denied.get_json()
    assert types(client, demo, code) == before
    resp = flows.event(client, demo, code, allowed, kind, payload)
    assert resp.status_code == 201, resp.get_json()


# event type, role, payload maker, setup that puts the cylinder where the event may not follow
ILLEGAL = [
    ("dispatched", "driver_a", lambda d: {"vehicle": d["vehicles"]["a"]}, flows.register),  # empty
    ("delivered", "driver_a", lambda d: {"customer_id": 1, "checklist": OK}, full),  # not loaded
    ("returned", "driver_a", lambda d: {}, flows.register),  # already back
    ("inspected", "inspector", lambda d: {"result": "pass"}, on_truck),  # out on the road
    ("released", "regulator", lambda d: {}, flows.register),  # nothing holds it
    ("scrapped", "inspector", lambda d: {}, lambda c, d: _scrapped(c, d)),  # already scrapped
    ("held", "regulator", lambda d: {"reason": "again"}, lambda c, d: _held(c, d)),
    ("filled", "station_a", lambda d: {"station_id": d["stations"]["a"], "gross_kg": 31.8,
                                       "net_kg": 15.0}, lambda c, d: _scrapped(c, d)),
    ("relabelled", "enterprise_a", lambda d: {"new_code": "X1"}, lambda c, d: _scrapped(c, d)),
]  # fmt: skip


def _scrapped(client: Any, demo: Any) -> str:
    code = flows.register(client, demo)
    assert flows.event(client, demo, code, "inspector", "scrapped", {}).status_code == 201
    return code


def _held(client: Any, demo: Any) -> str:
    code = flows.register(client, demo)
    assert flows.event(client, demo, code, "regulator", "held", {"reason": "x"}).status_code == 201
    return code


@pytest.mark.parametrize(("kind", "who", "payload", "setup"), ILLEGAL)
def test_an_illegal_transition_is_a_409_with_reasons_and_records_nothing(
    client, demo, kind, who, payload, setup
):
    code = setup(client, demo)
    before = types(client, demo, code)
    resp = flows.event(client, demo, code, who, kind, payload(demo))
    assert resp.status_code == 409, resp.get_json()
    assert resp.headers["Content-Type"] == "application/problem+json"
    reasons = resp.get_json()["reasons"]
    assert reasons and reasons[0]["code"] in ("ILLEGAL_TRANSITION", "NO_ALLOWING_CHECK")
    assert reasons[0]["message_zh"] and reasons[0]["message_en"]
    assert types(client, demo, code) == before


def test_a_scrapped_cylinder_can_still_be_reported(client, demo):
    code = _scrapped(client, demo)
    resp = flows.event(client, demo, code, "driver_a", "reported", {"kind": "suspected_fake"})
    assert resp.status_code == 201


def test_hold_and_release_by_the_regulator(client, demo):
    code = _held(client, demo)
    assert flows.check(client, demo, code).get_json()["allowed"] is False
    assert flows.event(client, demo, code, "regulator", "released", {}).status_code == 201
    assert flows.check(client, demo, code).get_json()["allowed"] is True


def test_relabelling_moves_the_chain_to_the_new_code_and_the_old_code_is_dead(client, demo):
    code = flows.register(client, demo)
    new = "RL" + code[:10]
    resp = flows.event(client, demo, code, "enterprise_a", "relabelled", {"new_code": new})
    assert resp.status_code == 201, resp.get_json()
    assert client.get(f"/api/v1/cylinders/{code}").status_code == 404
    assert client.get(f"/api/v1/cylinders/{new}").get_json()["events"] == 2
    assert types(client, demo, new) == ["registered", "relabelled"]
    again = client.post(
        "/api/v1/cylinders",
        json={**flows_body(), "code": code},
        headers=bearer(demo["tokens"]["enterprise_a"]),
    )
    assert again.status_code == 409  # never reused
    other = flows.register(client, demo)
    taken = flows.event(client, demo, other, "enterprise_a", "relabelled", {"new_code": code})
    assert taken.status_code == 422


def flows_body() -> dict[str, Any]:
    from tests.conftest import cylinder_body

    return cylinder_body(manufactured_on="2024-03-01")


def test_ownership_transfer_hands_the_cylinder_to_the_other_enterprise(client, demo):
    code = flows.register(client, demo)
    to_b = {"to_enterprise": demo["enterprises"]["b"]}
    assert (
        flows.event(client, demo, code, "enterprise_a", "ownership_transferred", to_b).status_code
        == 201
    )
    assert flows.check(client, demo, code, "b").get_json()["allowed"] is True
    assert [r["code"] for r in flows.check(client, demo, code, "a").get_json()["reasons"]] == [
        "NOT_OWNED"
    ]
    nowhere = flows.event(
        client, demo, code, "regulator", "ownership_transferred", {"to_enterprise": 999}
    )
    assert nowhere.status_code == 404


def test_an_inspection_result_and_next_due_date_are_checked(client, demo):
    code = flows.register(client, demo, manufactured_on="2022-05-01")
    assert flows.check(client, demo, code).get_json()["allowed"] is False
    bad = flows.event(
        client, demo, code, "inspector", "inspected", {"result": "fail", "next_due": "2030-01-01"}
    )
    assert bad.status_code == 422
    past = flows.event(
        client, demo, code, "inspector", "inspected", {"result": "pass", "next_due": "2020-01-01"}
    )
    assert past.status_code == 422
    ok = flows.event(client, demo, code, "inspector", "inspected", {"result": "pass"})
    assert ok.status_code == 201
    assert flows.check(client, demo, code).get_json()["allowed"] is True


def test_a_failed_inspection_condemns_the_cylinder_until_it_is_scrapped(client, demo):
    code = flows.register(client, demo)
    assert (
        flows.event(client, demo, code, "inspector", "inspected", {"result": "fail"}).status_code
        == 201
    )
    assert [r["code"] for r in flows.check(client, demo, code).get_json()["reasons"]] == [
        "SCRAPPED"
    ]
    assert flows.event(client, demo, code, "inspector", "scrapped", {}).status_code == 201
    assert client.get(f"/api/v1/cylinders/{code}").get_json()["status"] == "scrapped"


# --- dispatch and delivery checks: refused, and the refusal recorded ---------------------


YSP118 = {"dual_phase": True, "capacity_kg": 50.0, "tare_kg": 48.0, "model": "YSP118-II"}


def blocked(resp: Any) -> list[str]:
    assert resp.status_code == 409, resp.get_json()
    doc = resp.get_json()
    assert doc["recorded_event"]["type"] == "delivery_blocked"
    return [r["code"] for r in doc["reasons"]]


def test_a_dispatch_on_an_unregistered_vehicle_is_refused_and_recorded(client, demo):
    code = full(client, demo)
    resp = flows.event(client, demo, code, "driver_a", "dispatched", {"vehicle": "渝Z·00000"})
    assert blocked(resp) == ["VEHICLE_NOT_PERMITTED"]
    last = flows.history(client, demo, code)[-1]
    assert last["type"] == "delivery_blocked" and last["payload"]["check"] == "dispatch"


def test_a_dispatch_by_a_driver_not_bound_to_the_vehicle_is_refused(client, demo):
    code = full(client, demo)
    payload = {"vehicle": demo["vehicles"]["a"], "driver": 999}
    resp = flows.event(client, demo, code, "enterprise_a", "dispatched", payload)
    assert blocked(resp) == ["DRIVER_NOT_BOUND"]


def test_an_overfilled_cylinder_may_not_leave_the_station(client, demo):
    code = flows.register(client, demo)
    assert flows.fill(client, demo, code, net=16.0).status_code == 201
    resp = flows.event(
        client, demo, code, "driver_a", "dispatched", {"vehicle": demo["vehicles"]["a"]}
    )
    assert blocked(resp) == ["OVERFILLED"]


@pytest.mark.parametrize(
    ("customer", "body", "checklist", "code"),
    [
        ("restaurant", YSP118, OK, "DUAL_PHASE_TO_RESTAURANT"),
        ("canteen", YSP118, OK, "DUAL_PHASE_TO_RESTAURANT"),
        ("basement", {}, OK, "BASEMENT_SITE"),
        ("restaurant", {}, {**OK, "leak_test": False}, "SAFETY_CHECK_FAILED"),
    ],
)  # fmt: skip
def test_a_forbidden_delivery_is_refused_and_the_hazard_recorded(
    client, demo, customer, body, checklist, code
):
    if customer == "basement":
        cid = flows.customer(client, demo, "restaurant", basement=True)
    else:
        cid = flows.customer(client, demo, customer)
    cylinder = flows.register(client, demo, **body)
    net = body.get("capacity_kg", 15.0)
    flows.check(client, demo, cylinder)
    payload = {"station_id": demo["stations"]["a"], "gross_kg": net + 20, "net_kg": net}
    assert flows.event(client, demo, cylinder, "station_a", "filled", payload).status_code == 201
    flows.event(
        client, demo, cylinder, "driver_a", "dispatched", {"vehicle": demo["vehicles"]["a"]}
    )
    resp = flows.event(
        client,
        demo,
        cylinder,
        "driver_a",
        "delivered",
        {"customer_id": cid, "checklist": checklist},
    )
    assert blocked(resp) == [code]
    last = flows.history(client, demo, cylinder)[-1]
    assert last["site"] == cid and last["payload"]["check"] == "delivery"
    if code == "SAFETY_CHECK_FAILED":
        assert last["payload"]["failed_items"] == ["leak_test"]
    state = client.get(f"/api/v1/cylinders/{cylinder}").get_json()
    assert state["status"] == "in_transit"  # still on the truck


def test_a_retried_refused_delivery_is_refused_again_and_recorded_once(client, demo):
    code = on_truck(client, demo)
    cid = flows.customer(client, demo, basement=True)
    headers = {**bearer(demo["tokens"]["driver_a"]), "Idempotency-Key": "drop-1"}
    body = {"type": "delivered", "payload": {"customer_id": cid, "checklist": OK}}
    first = client.post(f"/api/v1/cylinders/{code}/events", json=body, headers=headers)
    again = client.post(f"/api/v1/cylinders/{code}/events", json=body, headers=headers)
    assert first.status_code == again.status_code == 409
    assert [r["code"] for r in again.get_json()["reasons"]] == ["BASEMENT_SITE"]
    assert types(client, demo, code).count("delivery_blocked") == 1


def test_a_delivery_to_another_enterprises_customer_file_is_404(client, demo):
    code = on_truck(client, demo)
    theirs = client.post(
        "/api/v1/customers",
        json={"name": "别家饭店", "kind": "restaurant", "address": "江北区", "basement": False},
        headers=bearer(demo["tokens"]["enterprise_b"]),
    ).get_json()["id"]
    resp = flows.event(
        client, demo, code, "driver_a", "delivered", {"customer_id": theirs, "checklist": OK}
    )
    assert resp.status_code == 404


def test_the_server_records_blocked_events_itself_never_a_client(client, demo):
    code = flows.register(client, demo)
    payload = {"check": "delivery", "reasons": ["BASEMENT_SITE"]}
    assert (
        flows.event(client, demo, code, "driver_a", "delivery_blocked", payload).status_code == 422
    )


def test_the_projection_equals_the_fold_of_the_events_after_a_busy_life(app, client, demo):
    codes = [delivered(client, demo), _held(client, demo), _scrapped(client, demo)]
    flows.check(client, demo, codes[1])
    engine = app.extensions["ledger"].engine
    params = app.extensions["ledger"].params
    with transaction(engine) as s:
        stored = {c: projection.load(s, _id(client, c)) for c in codes}
        for code, state in stored.items():
            assert state == projection.fold_from_events(s, _id(client, code), params)
        assert projection.rebuild(s, params) >= len(codes)
        assert {c: projection.load(s, _id(client, c)) for c in codes} == stored


def _id(client: Any, code: str) -> str:
    cylinder_id: str = client.get(f"/api/v1/cylinders/{code}").get_json()["id"]
    return cylinder_id


def test_rebuild_states_restores_a_projection_row_edited_behind_the_ledgers_back(
    app, client, demo, runner
):
    from sqlalchemy import update

    from ledger.model_rules import CylinderStateRow

    code = full(client, demo)
    with transaction(app.extensions["ledger"].engine) as s:
        s.execute(
            update(CylinderStateRow)
            .where(CylinderStateRow.cylinder_id == _id(client, code))  # type: ignore[arg-type]
            .values(state='{"cylinder_id": "x"}', status="scrapped")
        )
    result = runner.invoke(args=["ledger", "rebuild-states"])
    assert result.exit_code == 0 and "rebuilt the state of" in result.output
    assert client.get(f"/api/v1/cylinders/{code}").get_json()["status"] == "full"


def test_nothing_is_delivered_to_an_erased_customer_file_but_empties_come_back(client, demo):
    code = on_truck(client, demo)
    cid = flows.customer(client, demo)
    erased = client.delete(
        f"/api/v1/customers/{cid}", headers=bearer(demo["tokens"]["enterprise_a"])
    )
    assert erased.status_code == 204
    payload = {"customer_id": cid, "checklist": OK}
    resp = flows.event(client, demo, code, "driver_a", "delivered", payload)
    assert resp.status_code == 422 and "删除" in resp.get_json()["detail"]
    back = flows.event(client, demo, code, "driver_a", "returned", {"customer_id": cid})
    assert back.status_code == 201
