"""Dispatch and delivery through the API: refused, and the refusal recorded (evidence)."""

from __future__ import annotations

from typing import Any

import pytest

from ledger import registry
from ledger.model import Enterprise, Role
from ledger.store import transaction
from tests import flows
from tests.conftest import bearer
from tests.integration.cycle import OK, dispatch, full, on_truck, types

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
    tare = body.get("tare_kg", 16.8)
    payload = {"station_id": demo["stations"]["a"], "gross_kg": net + tare, "net_kg": net}
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


def _hold(client: Any, demo: Any, code: str) -> None:
    resp = flows.event(client, demo, code, "regulator", "held", {"reason": "涉案"})
    assert resp.status_code == 201, resp.get_json()


def test_a_cylinder_held_after_its_fill_may_not_be_dispatched(client, demo):
    code = full(client, demo)
    _hold(client, demo, code)
    truck = {"vehicle": demo["vehicles"]["a"]}
    resp = flows.event(client, demo, code, "driver_a", "dispatched", truck)
    assert blocked(resp) == ["HELD"]
    assert client.get(f"/api/v1/cylinders/{code}").get_json()["status"] == "full"


def test_a_cylinder_held_on_the_road_may_not_be_delivered(client, demo):
    code = on_truck(client, demo)
    _hold(client, demo, code)
    payload = {"customer_id": flows.customer(client, demo), "checklist": OK}
    resp = flows.event(client, demo, code, "driver_a", "delivered", payload)
    assert blocked(resp) == ["HELD"]
    assert types(client, demo, code)[-1] == "delivery_blocked"


def _another_driver(app: Any, demo: Any) -> str:
    """A second driver of enterprise A, bound to no vehicle; his token."""
    with transaction(app.extensions["ledger"].engine) as s:
        ent = s.get(Enterprise, demo["enterprises"]["a"])
        _, token = registry.add_actor(s, "刘师傅", Role.DRIVER, enterprise=ent)
    return token


def test_a_delivery_by_a_driver_not_bound_to_the_truck_is_refused(app, client, demo):
    code = full(client, demo)
    dispatch(client, demo, code)  # on vehicle a, bound to driver_a
    body = {"type": "delivered",
            "payload": {"customer_id": flows.customer(client, demo), "checklist": OK}}  # fmt: skip
    resp = client.post(f"/api/v1/cylinders/{code}/events", json=body,
                       headers=bearer(_another_driver(app, demo)))  # fmt: skip
    assert blocked(resp) == ["DRIVER_NOT_BOUND"]
    assert client.get(f"/api/v1/cylinders/{code}").get_json()["status"] == "in_transit"
