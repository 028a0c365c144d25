"""The pure rules on the road: dispatch and delivery checks, weights at the fill."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import pytest

from ledger import rules
from ledger.facts import CustomerView, VehicleView
from ledger.state import CylinderState
from tests.unit.test_rules import (
    NOW,
    OK_CHECKLIST,
    OWNER,
    RESTAURANT,
    TODAY,
    VEHICLE,
    P,
    after,
    cylinder,
    filled,
)  # fmt: skip


def full_cylinder(**registration: Any) -> CylinderState:
    return filled(cylinder(**registration), NOW - dt.timedelta(hours=2))


def on_truck(**registration: Any) -> CylinderState:
    return after(full_cylinder(**registration), "dispatched", {"vehicle": VEHICLE.plate},
                 at=NOW - dt.timedelta(hours=1))  # fmt: skip


DISPATCH_CASES: dict[str, tuple[CylinderState, VehicleView | None, int | None]] = {
    "VEHICLE_NOT_PERMITTED": (full_cylinder(), replace(VEHICLE, permit_number=None), 7),
    "DRIVER_NOT_BOUND": (full_cylinder(), VEHICLE, 8),
    "OVERFILLED": (filled(cylinder(), NOW - dt.timedelta(hours=2), net=15.6), VEHICLE, 7),
    "HELD": (after(full_cylinder(), "reported", {"kind": "lost"}), VEHICLE, 7),
}


@pytest.mark.parametrize("code", sorted(DISPATCH_CASES))
def test_each_forbidden_dispatch_is_blocked_with_its_reason(code):
    state, vehicle, driver = DISPATCH_CASES[code]
    decision = rules.dispatch_check(state, OWNER, vehicle, driver, NOW, P)
    assert decision.codes == (code,)


def test_a_legal_dispatch_by_the_bound_driver_is_allowed_and_other_vehicles_are_not():
    assert rules.dispatch_check(full_cylinder(), OWNER, VEHICLE, 7, NOW, P).allowed
    expired = replace(VEHICLE, permit_valid_until=TODAY - dt.timedelta(days=1))
    assert rules.dispatch_check(full_cylinder(), OWNER, expired, 7, NOW, P).codes == (
        "VEHICLE_NOT_PERMITTED",
    )
    foreign = replace(VEHICLE, enterprise_id=2)
    assert (
        "VEHICLE_NOT_PERMITTED"
        in rules.dispatch_check(full_cylinder(), OWNER, foreign, 7, NOW, P).codes
    )
    assert rules.dispatch_check(full_cylinder(), OWNER, None, 7, NOW, P).codes == (
        "VEHICLE_NOT_PERMITTED",
    )


def test_a_short_fill_is_a_warning_and_an_overfill_stays_until_returned():
    short = filled(cylinder(), NOW - dt.timedelta(hours=2), net=14.2)
    assert short.short_weight and not short.overfilled
    assert [w.code for w in rules.weighing_warnings(short, 14.2, P)] == ["SHORT_WEIGHT"]
    over = filled(cylinder(), NOW - dt.timedelta(hours=2), net=15.6)
    assert over.overfilled
    assert not after(over, "returned", {}).overfilled
    assert not filled(cylinder(), NOW, net=15.5).overfilled  # within the 0.5 kg tolerance


DELIVERY_CASES: dict[str, tuple[CylinderState, CustomerView, dict[str, bool]]] = {
    "DUAL_PHASE_TO_RESTAURANT": (on_truck(dual_phase=True, capacity_kg=50.0, model="YSP118-II"),
                                 RESTAURANT, OK_CHECKLIST),
    "BASEMENT_SITE": (on_truck(), replace(RESTAURANT, basement=True), OK_CHECKLIST),
    "SAFETY_CHECK_FAILED": (on_truck(), RESTAURANT, {**OK_CHECKLIST, "hose": False}),
    "INSPECTION_OVERDUE": (on_truck(manufactured_on="2022-05-01"), RESTAURANT, OK_CHECKLIST),
}  # fmt: skip


@pytest.mark.parametrize("code", sorted(DELIVERY_CASES))
def test_each_forbidden_delivery_is_blocked_with_its_reason(code):
    state, customer, checklist = DELIVERY_CASES[code]
    decision = rules.delivery_check(state, OWNER, customer, checklist, VEHICLE, 7, NOW, P)
    assert decision.codes == (code,)


def test_dual_phase_goes_to_households_and_the_failed_items_are_named():
    state = on_truck(dual_phase=True, capacity_kg=50.0)
    household = replace(RESTAURANT, kind="household")
    assert rules.delivery_check(state, OWNER, household, OK_CHECKLIST, VEHICLE, 7, NOW, P).allowed
    failed = {**OK_CHECKLIST, "leak_test": False, "single_gas_source": False}
    decision = rules.delivery_check(on_truck(), OWNER, RESTAURANT, failed, VEHICLE, 7, NOW, P)
    assert "检漏、无第二气源" in decision.reasons[0].message_zh
    assert rules.failed_items(failed) == ["leak_test", "single_gas_source"]


def test_a_delivery_by_a_driver_not_bound_to_the_truck_is_blocked():
    decision = rules.delivery_check(on_truck(), OWNER, RESTAURANT, OK_CHECKLIST, VEHICLE, 8, NOW, P)
    assert decision.codes == ("DRIVER_NOT_BOUND",)


def test_not_owned_does_not_block_a_delivery():
    # DESIGN §5: the legal-to-sell reasons bar NOT_OWNED (a station is not involved).
    decision = rules.delivery_check(on_truck(), OWNER, RESTAURANT, OK_CHECKLIST, VEHICLE, 7, NOW, P)
    assert decision.allowed
