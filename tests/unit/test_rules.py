"""The pure rules: every reason code of DESIGN §5, warnings, and determinism."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger import rules
from ledger.errors import Invalid
from ledger.facts import CustomerView, EnterpriseView, LicenceView, StationView, VehicleView
from ledger.params import Jurisdiction
from ledger.reasons import CATALOGUE, FILL_BLOCK_CODES
from ledger.state import CylinderState, EventView, apply, registered

NOW = dt.datetime(2026, 11, 23, 6, 0, tzinfo=dt.UTC)
TODAY = NOW.date()
P = Jurisdiction()

GAS = LicenceView("gas_business", "渝燃经字001", "valid", dt.date(2024, 1, 1), dt.date(2029, 1, 1))
FILLING = LicenceView(
    "cylinder_filling", "TS4250A01", "valid", dt.date(2024, 1, 1), dt.date(2029, 1, 1), 1
)
OWNER = EnterpriseView(1, "重庆渝安燃气有限公司", False, (GAS,))
STATION = StationView(1, 1, "渝安充装站", 29.60, 106.50, (FILLING,))
FAR_STATION = StationView(9, 1, "万州充装站", 30.81, 108.38, (FILLING,))  # ~230 km away
VEHICLE = VehicleView("渝A·D12345", 1, "渝交运危500112000001", dt.date(2028, 1, 1), 7)
RESTAURANT = CustomerView(3, 1, "restaurant", False)
OK_CHECKLIST = dict.fromkeys(
    ("valve", "hose", "regulator", "leak_test", "ventilation", "single_gas_source",
     "storage_room", "not_basement"),
    True,
)  # fmt: skip


def cylinder(**registration: Any) -> CylinderState:
    """A legal 15 kg cylinder made in 2024, registered a year ago."""
    payload = {
        "code": "ABC123", "owner": 1, "serial": "CQ2024001", "manufacturer": "金盾",
        "manufactured_on": "2024-03-01", "model": "YSP35.5", "capacity_kg": 15.0,
        "tare_kg": 16.8, "dual_phase": False, "last_inspected_on": None,
        "service_life_years": None, **registration,
    }  # fmt: skip
    return registered("cyl-1", payload, NOW - dt.timedelta(days=365))


def after(state: CylinderState, kind: str, payload: dict[str, Any], **kw: Any) -> CylinderState:
    at = kw.pop("at", NOW - dt.timedelta(days=2))
    return apply(state, EventView(kind, payload, at, **kw))


def filled(
    state: CylinderState, at: dt.datetime, net: float = 15.0, station: int = 1
) -> CylinderState:
    payload = {"station_id": station, "gross_kg": 16.8 + net, "net_kg": net}
    return after(state, "filled", payload, at=at, station_id=station)


def test_a_legal_cylinder_at_its_owners_licensed_station_is_allowed():
    decision = rules.fill_check(cylinder(), STATION, OWNER, NOW, P)
    assert decision.allowed and decision.reasons == () and decision.warnings == ()


# reason code → (state, station, owner, extra keyword arguments)
FILL_CASES: dict[str, tuple[Any, StationView, EnterpriseView | None, dict[str, Any]]] = {
    "UNKNOWN_CODE": (None, STATION, OWNER, {}),
    "FORGED_CODE": (cylinder(), STATION, OWNER, {"forged": True}),
    "SCRAPPED": (after(cylinder(), "scrapped", {}), STATION, OWNER, {}),
    "PAST_SERVICE_LIFE": (cylinder(manufactured_on="2010-01-01", last_inspected_on="2025-01-01"),
                          STATION, OWNER, {}),
    "INSPECTION_OVERDUE": (cylinder(manufactured_on="2022-05-01"), STATION, OWNER, {}),
    "REFURBISHED": (after(cylinder(), "reported", {"kind": "refurbished"}), STATION, OWNER, {}),
    "NOT_OWNED": (cylinder(owner=2), STATION, replace(OWNER, id=2), {}),
    "STATION_NOT_LICENSED": (cylinder(), replace(STATION, licences=()), OWNER, {}),
    "OWNER_NOT_LICENSED": (cylinder(), STATION, replace(OWNER, blacklisted=True), {}),
    "HELD": (after(cylinder(), "held", {"reason": "涉案扣押"}), STATION, OWNER, {}),
    "SUSPECTED_CLONE": (filled(cylinder(), NOW - dt.timedelta(hours=3), station=2), STATION,
                        OWNER, {}),
    "ALREADY_FILLED": (filled(cylinder(), NOW - dt.timedelta(hours=3)), STATION, OWNER, {}),
    "LABEL_DAMAGED": (after(cylinder(), "reported", {"kind": "label_damaged"}), STATION, OWNER,
                      {}),
}  # fmt: skip


@pytest.mark.parametrize("code", sorted(FILL_CASES))
def test_each_illegal_cylinder_is_blocked_with_its_own_reason(code):
    state, station, owner, kwargs = FILL_CASES[code]
    decision = rules.fill_check(state, station, owner, NOW, P, **kwargs)
    assert not decision.allowed
    assert decision.codes == (code,)
    [why] = decision.reasons
    assert why.message_zh and why.message_en and why.message_zh != why.message_en


def test_a_station_may_report_every_blocking_reason_of_a_fill_check():
    # A check blocked offline is sent as a fill_blocked naming these codes (payload check).
    assert set(FILL_CASES) | {"CODE_RETIRED"} <= FILL_BLOCK_CODES
    assert not FILL_BLOCK_CODES & {"INSPECTION_DUE_SOON", "END_OF_LIFE_SOON", "SHORT_WEIGHT"}


def test_every_blocking_reason_of_design_section_5_is_covered():
    design = {
        "UNKNOWN_CODE", "FORGED_CODE", "SCRAPPED", "PAST_SERVICE_LIFE", "INSPECTION_OVERDUE",
        "REFURBISHED", "NOT_OWNED", "STATION_NOT_LICENSED", "OWNER_NOT_LICENSED", "HELD",
        "SUSPECTED_CLONE", "LABEL_DAMAGED",
    }  # fmt: skip
    assert design <= set(FILL_CASES) and design <= set(CATALOGUE)


@pytest.mark.parametrize(
    ("owner", "detail"),
    [
        (None, "不存在"),
        (replace(OWNER, licences=()), "无有效燃气经营许可证"),
        (replace(OWNER, licences=(replace(GAS, status="revoked"),)), "无有效燃气经营许可证"),
        (replace(OWNER, licences=(replace(GAS, valid_until=TODAY - dt.timedelta(days=1)),)),
         "无有效燃气经营许可证"),
        (replace(OWNER, blacklisted=True), "黑名单"),
    ],
)  # fmt: skip
def test_an_owner_without_a_valid_gas_licence_or_blacklisted_blocks(owner, detail):
    decision = rules.fill_check(cylinder(), STATION, owner, NOW, P)
    assert decision.codes == ("OWNER_NOT_LICENSED",)
    assert detail in decision.reasons[0].message_zh


@pytest.mark.parametrize(
    "licence",
    [
        replace(FILLING, status="suspended"),
        replace(FILLING, status="revoked"),
        replace(FILLING, valid_until=TODAY - dt.timedelta(days=1)),
        replace(FILLING, valid_from=TODAY + dt.timedelta(days=1)),
        replace(FILLING, station_id=2),  # another station's licence
    ],
)
def test_a_station_whose_filling_licence_is_not_in_force_blocks(licence):
    decision = rules.fill_check(cylinder(), replace(STATION, licences=(licence,)), OWNER, NOW, P)
    assert decision.codes == ("STATION_NOT_LICENSED",)


def test_service_life_defaults_follow_gb5842_and_a_stamped_life_wins():
    assert cylinder(manufactured_on="2007-02-01").end_of_life(P) == dt.date(2015, 2, 1)
    assert cylinder(manufactured_on="2007-01-31").end_of_life(P) == dt.date(2022, 1, 31)
    assert cylinder(manufactured_on="2020-06-01", service_life_years=15).end_of_life(P) == dt.date(
        2035, 6, 1
    )


def test_the_day_the_service_life_ends_is_already_past_it():
    state = cylinder(manufactured_on="2018-11-23", last_inspected_on="2024-01-01")
    assert rules.fill_check(state, STATION, OWNER, NOW, P).codes == ("PAST_SERVICE_LIFE",)
    yesterday = NOW - dt.timedelta(days=1)
    assert rules.fill_check(state, STATION, OWNER, yesterday, P).allowed


def test_a_date_turns_at_the_jurisdictions_midnight_not_utcs():
    state = cylinder(manufactured_on="2018-11-24", last_inspected_on="2024-01-01")  # ends 11-24
    before = dt.datetime(2026, 11, 23, 15, 59, tzinfo=dt.UTC)  # 23:59 in Chongqing
    after_midnight = dt.datetime(2026, 11, 23, 16, 0, tzinfo=dt.UTC)  # 00:00 on the 24th
    assert rules.fill_check(state, STATION, OWNER, before, P).allowed
    assert rules.fill_check(state, STATION, OWNER, after_midnight, P).codes == (
        "PAST_SERVICE_LIFE",
    )
    utc = Jurisdiction(time_zone="UTC")  # a jurisdiction on UTC turns 8 hours later
    assert rules.fill_check(state, STATION, OWNER, after_midnight, utc).allowed
    late = replace(STATION, licences=(replace(FILLING, valid_until=dt.date(2026, 11, 23)),))
    assert rules.fill_check(cylinder(), late, OWNER, before, P).allowed
    assert rules.fill_check(cylinder(), late, OWNER, after_midnight, P).codes == (
        "STATION_NOT_LICENSED",
    )
    with pytest.raises(Invalid, match="bad value"):
        Jurisdiction.from_dict({"time_zone": "Mars/Olympus"})
    assert Jurisdiction.from_dict({"time_zone": "Asia/Urumqi"}).time_zone == "Asia/Urumqi"


def test_an_inspection_sets_the_next_due_date_and_a_failed_one_condemns():
    old = cylinder(manufactured_on="2022-05-01")
    passed = after(old, "inspected", {"result": "pass", "next_due": "2030-05-01"})
    assert rules.fill_check(passed, STATION, OWNER, NOW, P).allowed
    assert passed.next_inspection_due(P) == dt.date(2030, 5, 1)
    derived = after(old, "inspected", {"result": "pass"}, at=NOW - dt.timedelta(days=10))
    assert derived.next_inspection_due(P) == dt.date(2030, 11, 13)
    failed = after(old, "inspected", {"result": "fail"})
    assert rules.fill_check(failed, STATION, OWNER, NOW, P).codes[0] == "SCRAPPED"


def test_warnings_come_30_days_before_inspection_and_90_before_end_of_life():
    state = cylinder(manufactured_on="2018-12-20", last_inspected_on="2022-12-10")
    decision = rules.fill_check(state, STATION, OWNER, NOW, P)
    assert decision.allowed
    assert [w.code for w in decision.warnings] == ["INSPECTION_DUE_SOON", "END_OF_LIFE_SOON"]
    later = NOW - dt.timedelta(days=120)
    assert rules.fill_check(state, STATION, OWNER, later, P).warnings == ()


def test_a_refill_within_24_hours_without_delivery_or_return_is_a_suspected_clone():
    full = filled(cylinder(), NOW - dt.timedelta(hours=23), station=2)  # at another station
    clone = rules.fill_check(full, STATION, OWNER, NOW, P)
    assert clone.codes == ("SUSPECTED_CLONE",)
    [why] = clone.reasons  # the time of the fill in the city's time (UTC+8 here), both halves
    assert why.message_zh == "疑似克隆码：2026-11-22 15:00已在另一充装站充装，此后未配送或回收"
    assert why.message_en.endswith("filled at another station 2026-11-22 15:00 with no "
                                   "delivery or return since")  # fmt: skip
    assert rules.fill_check(full, STATION, OWNER, NOW + dt.timedelta(hours=2), P).allowed
    returned = after(full, "returned", {}, at=NOW - dt.timedelta(hours=1))
    assert rules.fill_check(returned, STATION, OWNER, NOW, P).allowed
    delivered = after(full, "delivered", {"customer_id": 3, "checklist": OK_CHECKLIST})
    assert rules.fill_check(delivered, STATION, OWNER, NOW, P).allowed


def test_a_cylinder_scanned_again_where_it_was_filled_is_already_filled_not_a_clone():
    full = filled(cylinder(), NOW - dt.timedelta(minutes=10))  # at this very station
    again = rules.fill_check(full, STATION, OWNER, NOW, P)
    assert not again.allowed and again.codes == ("ALREADY_FILLED",)
    assert again.reasons[0].message_zh.startswith("本站已于2026-11-23 13:50充装此瓶")
    far = after(full, "fill_blocked", {"station_id": 9, "reasons": ["NOT_OWNED"]},
                at=NOW - dt.timedelta(minutes=5), station_id=9)  # fmt: skip
    seen_far = rules.fill_check(far, STATION, OWNER, NOW, P, previous_station=FAR_STATION)
    assert seen_far.codes == ("SUSPECTED_CLONE",)  # its code 230 km away 5 minutes ago
    assert "公里" in seen_far.reasons[0].message_zh  # the clone, not the rescan
    later = NOW + dt.timedelta(hours=24)
    assert rules.fill_check(full, STATION, OWNER, later, P).allowed  # as after a clone's window


def test_two_scans_further_apart_than_travel_allows_are_a_suspected_clone():
    seen = after(cylinder(), "fill_blocked", {"station_id": 9, "reasons": ["X"]},
                 at=NOW - dt.timedelta(hours=1), station_id=9)  # fmt: skip
    decision = rules.fill_check(seen, STATION, OWNER, NOW, P, previous_station=FAR_STATION)
    assert decision.codes == ("SUSPECTED_CLONE",) and "公里" in decision.reasons[0].message_zh
    slow = NOW + dt.timedelta(hours=3)  # 230 km in 4 h is possible
    assert rules.fill_check(seen, STATION, OWNER, slow, P, previous_station=FAR_STATION).allowed
    unknown_place = replace(FAR_STATION, latitude=None)
    assert rules.fill_check(seen, STATION, OWNER, NOW, P, previous_station=unknown_place).allowed


def test_a_release_clears_holds_and_reports_but_not_a_damaged_label():
    state = after(cylinder(), "held", {"reason": "调查"})
    state = after(state, "reported", {"kind": "stolen"})
    state = after(state, "reported", {"kind": "label_damaged"})
    assert rules.fill_check(state, STATION, OWNER, NOW, P).codes == ("HELD", "LABEL_DAMAGED")
    released = after(state, "released", {})
    assert rules.fill_check(released, STATION, OWNER, NOW, P).codes == ("LABEL_DAMAGED",)
    relabelled = after(released, "relabelled", {"new_code": "NEW123"})
    assert relabelled.code == "NEW123"
    assert rules.fill_check(relabelled, STATION, OWNER, NOW, P).allowed


def test_a_registration_that_duplicates_another_serial_is_refurbished():
    state = cylinder(duplicate_serial_of="OLD999")
    decision = rules.fill_check(state, STATION, OWNER, NOW, P)
    assert decision.codes == ("REFURBISHED",) and "OLD999" in decision.reasons[0].message_zh


def test_a_jurisdiction_may_switch_a_reason_off_but_never_unknown_or_forged():
    lenient = Jurisdiction(disabled_reasons=frozenset({"NOT_OWNED", "FORGED_CODE"}))
    other = cylinder(owner=2)
    assert rules.fill_check(other, STATION, replace(OWNER, id=2), NOW, lenient).allowed
    forged = rules.fill_check(cylinder(), STATION, OWNER, NOW, lenient, forged=True)
    assert forged.codes == ("FORGED_CODE",)


def test_jurisdiction_parameters_round_trip_and_refuse_unknown_keys():
    custom = Jurisdiction.from_dict({"inspection_interval_years": 3, "clone_refill_hours": 12})
    assert Jurisdiction.from_dict(custom.to_dict()) == custom
    with pytest.raises(Invalid, match="unknown"):
        Jurisdiction.from_dict({"inspection_every": 3})
    with pytest.raises(Invalid, match="bad value"):
        Jurisdiction.from_dict({"inspection_interval_years": "four"})


# --- determinism -----------------------------------------------------------------------

EVENTS = st.sampled_from(
    [
        ("filled", {"station_id": 1, "gross_kg": 31.8, "net_kg": 15.0}),
        ("returned", {}),
        ("dispatched", {"vehicle": "渝A·D12345"}),
        ("delivered", {"customer_id": 3, "checklist": OK_CHECKLIST}),
        ("reported", {"kind": "lost"}),
        ("reported", {"kind": "label_damaged"}),
        ("held", {"reason": "调查"}),
        ("released", {}),
        ("inspected", {"result": "pass"}),
        ("inspected", {"result": "fail"}),
        ("scrapped", {}),
        ("relabelled", {"new_code": "NEW1"}),
    ]
)


@given(
    history=st.lists(st.tuples(EVENTS, st.integers(0, 400 * 24)), max_size=12),
    hours=st.integers(0, 24 * 365 * 12),
)
def test_the_rules_are_deterministic_and_their_dict_form_round_trips(history, hours):
    state = cylinder()
    for (kind, payload), ago in history:
        state = after(state, kind, payload, at=NOW - dt.timedelta(hours=ago), station_id=1)
    now = NOW + dt.timedelta(hours=hours)
    first = rules.fill_check(state, STATION, OWNER, now, P)
    again = rules.fill_check(CylinderState.from_dict(state.to_dict()), STATION, OWNER, now, P)
    assert first == again
    assert rules.Decision.from_dict(first.to_dict()) == first
    assert first.allowed == (first.reasons == ())


@pytest.mark.parametrize(
    ("end", "zh", "en"),
    [
        (("scrapped", {}), "气瓶已报废", "cylinder scrapped"),
        (
            ("inspected", {"result": "fail"}),
            "气瓶已报废（检验判废）",
            "cylinder scrapped (condemned at inspection)",
        ),
    ],
)
def test_a_scrapped_or_condemned_cylinder_says_which_once(
    end: tuple[str, dict[str, Any]], zh: str, en: str
) -> None:
    state = after(cylinder(), *end)
    reasons, _warnings = rules.legality(state, OWNER, NOW, Jurisdiction())
    assert [(r.code, r.message_zh, r.message_en) for r in reasons] == [("SCRAPPED", zh, en)]
