"""The cylinder's life through the API: every event type, its roles and its transitions."""

from __future__ import annotations

from typing import Any

import pytest

from ledger import projection
from ledger.store import transaction
from tests import flows
from tests.conftest import bearer
from tests.integration.cycle import OK, condemned, delivered, full, held, on_truck, scrapped, types


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
        "dispatched": {"vehicle": demo["vehicles"]["a"]},
        "delivered": {"customer_id": flows.customer(client, demo), "checklist": OK},
        "released": {"reason": "查明无误"},
        "fill_blocked": {"station_id": demo["stations"]["a"], "reasons": ["HELD"]},
    }[kind]


ROLES = [
    ("returned", "driver_a", "inspector", on_truck),
    ("inspected", "inspector", "driver_a", flows.register),
    ("relabelled", "enterprise_a", "driver_a", flows.register),
    ("ownership_transferred", "enterprise_a", "station_a", flows.register),
    ("reported", "driver_a", "admin", flows.register),
    ("held", "regulator", "enterprise_a", flows.register),
    ("scrapped", "inspector", "regulator", flows.register),
    ("dispatched", "driver_a", "station_a", full),
    ("delivered", "driver_a", "enterprise_a", on_truck),
    ("released", "regulator", "inspector", held),
    ("fill_blocked", "station_a", "driver_a", flows.register),
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
TO_B = lambda d: {"to_enterprise": d["enterprises"]["b"]}  # noqa: E731
TRUCK = lambda d: {"vehicle": d["vehicles"]["a"]}  # noqa: E731
ILLEGAL = [
    ("dispatched", "driver_a", lambda d: {"vehicle": d["vehicles"]["a"]}, flows.register),  # empty
    ("delivered", "driver_a", lambda d: {"customer_id": 1, "checklist": OK}, full),  # not loaded
    ("returned", "driver_a", lambda d: {}, flows.register),  # already back
    ("inspected", "inspector", lambda d: {"result": "pass"}, on_truck),  # out on the road
    ("released", "regulator", lambda d: {}, flows.register),  # nothing holds it
    ("scrapped", "inspector", lambda d: {}, scrapped),  # already scrapped
    ("held", "regulator", lambda d: {"reason": "again"}, held),
    ("filled", "station_a", lambda d: {"station_id": d["stations"]["a"], "gross_kg": 31.8,
                                       "net_kg": 15.0}, scrapped),
    ("relabelled", "enterprise_a", lambda d: {"new_code": "X1"}, scrapped),
    ("ownership_transferred", "regulator", TO_B, condemned),
    ("ownership_transferred", "regulator", TO_B, scrapped),
    ("ownership_transferred", "enterprise_a", lambda d: {"to_enterprise": d["enterprises"]["a"]},
     flows.register),  # already its owner
    ("dispatched", "driver_a", TRUCK, on_truck),  # already on the road
    ("dispatched", "driver_a", TRUCK, delivered),  # at the customer's
    ("dispatched", "driver_a", TRUCK, condemned),
    ("delivered", "driver_a", lambda d: {"customer_id": 1, "checklist": OK}, delivered),
    ("returned", "driver_a", lambda d: {}, condemned),
    ("returned", "driver_a", lambda d: {}, scrapped),
    ("inspected", "inspector", lambda d: {"result": "pass"}, condemned),
    ("inspected", "inspector", lambda d: {"result": "pass"}, scrapped),
    ("scrapped", "inspector", lambda d: {}, on_truck),  # scrapped once it is back
]  # fmt: skip


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
    assert [r["code"] for r in reasons] == ["ILLEGAL_TRANSITION"]
    assert reasons[0]["message_zh"] and reasons[0]["message_en"]
    assert types(client, demo, code) == before


def test_a_scrapped_cylinder_can_still_be_reported(client, demo):
    code = scrapped(client, demo)
    resp = flows.event(client, demo, code, "driver_a", "reported", {"kind": "suspected_fake"})
    assert resp.status_code == 201


def test_hold_and_release_by_the_regulator(client, demo):
    code = held(client, demo)
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


def test_relabelling_to_the_same_code_is_an_illegal_transition(client, demo):
    code = flows.register(client, demo)
    resp = flows.event(client, demo, code, "enterprise_a", "relabelled", {"new_code": code})
    assert resp.status_code == 409
    assert [r["code"] for r in resp.get_json()["reasons"]] == ["ILLEGAL_TRANSITION"]
    assert types(client, demo, code) == ["registered"]


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
    far = flows.event(
        client, demo, code, "inspector", "inspected", {"result": "pass", "next_due": "2099-01-01"}
    )
    assert far.status_code == 422  # at most the inspection interval + 1 year ahead
    ok = flows.event(client, demo, code, "inspector", "inspected", {"result": "pass"})
    assert ok.status_code == 201
    assert flows.check(client, demo, code).get_json()["allowed"] is True


def test_a_failed_inspection_condemns_the_cylinder_until_it_isscrapped(client, demo):
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


def test_the_server_records_blocked_events_itself_never_a_client(client, demo):
    code = flows.register(client, demo)
    payload = {"check": "delivery", "reasons": ["BASEMENT_SITE"]}
    assert (
        flows.event(client, demo, code, "driver_a", "delivery_blocked", payload).status_code == 422
    )


def test_the_projection_equals_the_fold_of_the_events_after_a_busy_life(app, client, demo):
    codes = [delivered(client, demo), held(client, demo), scrapped(client, demo)]
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
