"""The rules at the nozzle and on the road (DESIGN §5): pure functions of state and time.

Nothing here reads a clock or a database: the caller passes the cylinder's state, the
registry views (``ledger.facts``), ``now`` and the jurisdiction's parameters. The same
functions decide on the server and, offline, on a station with its cached copies.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ledger.clones import clone_reasons
from ledger.facts import CustomerView, EnterpriseView, StationView, VehicleView
from ledger.params import DEFAULT, Jurisdiction
from ledger.reasons import CHECKLIST_LABELS, Reason, reason
from ledger.state import HOLDING_REPORTS, CylinderState

ALWAYS_BLOCK = frozenset({"UNKNOWN_CODE", "FORGED_CODE", "CODE_RETIRED"})
REPORT_NAMES = {
    "lost": ("挂失", "lost"),
    "stolen": ("被盗", "stolen"),
    "seized": ("查扣", "seized"),
    "suspected_fake": ("疑似假冒", "suspected fake"),
}


@dataclass(frozen=True)
class Decision:
    """Allowed or not, with every blocking reason and every warning."""

    allowed: bool
    reasons: tuple[Reason, ...] = ()
    warnings: tuple[Reason, ...] = field(default=())

    @property
    def codes(self) -> tuple[str, ...]:
        """The blocking reason codes, in catalogue order."""
        return tuple(r.code for r in self.reasons)

    def to_dict(self) -> dict[str, Any]:
        """JSON form: {allowed, reasons: [...], warnings: [...]}."""
        return {
            "allowed": self.allowed,
            "reasons": [r.to_dict() for r in self.reasons],
            "warnings": [w.to_dict() for w in self.warnings],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Decision:
        """Inverse of ``to_dict``."""
        return cls(
            bool(d["allowed"]),
            tuple(Reason.from_dict(r) for r in d.get("reasons", ())),
            tuple(Reason.from_dict(w) for w in d.get("warnings", ())),
        )


def decide(reasons: list[Reason], warnings: list[Reason], params: Jurisdiction) -> Decision:
    """A decision from candidate reasons, dropping those the jurisdiction switched off."""
    kept = tuple(
        r for r in reasons if r.code in ALWAYS_BLOCK or r.code not in params.disabled_reasons
    )
    return Decision(not kept, kept, tuple(warnings))


def unknown(code: str, *, retired: bool = False) -> Decision:
    """The decision for a code no cylinder carries (or one retired by relabelling)."""
    if retired:
        return Decision(
            False, (reason("CODE_RETIRED", "疑似克隆或旧标签", "an old label or a clone"),)
        )
    return Decision(False, (reason("UNKNOWN_CODE"),))


def _owner_reasons(owner: EnterpriseView | None, today: dt.date) -> list[Reason]:
    if owner is None:
        return [reason("OWNER_NOT_LICENSED", "不存在", "does not exist")]
    if owner.blacklisted:
        return [reason("OWNER_NOT_LICENSED", f"{owner.name}已被列入黑名单", "is blacklisted")]
    if not owner.licensed_on(today):
        return [
            reason(
                "OWNER_NOT_LICENSED",
                f"{owner.name}无有效燃气经营许可证",
                "holds no valid gas business licence",
            )
        ]
    return []


def legality(
    state: CylinderState, owner: EnterpriseView | None, now: dt.datetime, params: Jurisdiction
) -> tuple[list[Reason], list[Reason]]:
    """Reasons a cylinder may be neither filled nor sold, and warnings (any stage)."""
    today = params.today(now)
    reasons: list[Reason] = []
    if state.status in ("scrapped", "condemned"):
        condemned = state.status == "condemned"
        detail = ("（检验判废）", " (condemned at inspection)") if condemned else ("", "")
        reasons.append(reason("SCRAPPED", *detail))
    end = state.end_of_life(params)
    if today >= end:
        reasons.append(reason("PAST_SERVICE_LIFE", end.isoformat()))
    due = state.next_inspection_due(params)
    if today >= due:
        reasons.append(reason("INSPECTION_OVERDUE", due.isoformat()))
    if state.refurbished:
        detail = (
            (f"钢印号与{state.contradiction}重复", f"serial duplicates {state.contradiction}")
            if state.contradiction
            else ("已被举报", "reported")
        )
        reasons.append(reason("REFURBISHED", *detail))
    reasons.extend(_owner_reasons(owner, today))
    holds = [k for k in state.open_reports if k in HOLDING_REPORTS]
    if state.held or holds:
        zh = "、".join([REPORT_NAMES[k][0] for k in holds] + ([state.held] if state.held else []))
        en = ", ".join([REPORT_NAMES[k][1] for k in holds] + ([state.held] if state.held else []))
        reasons.append(reason("HELD", zh, en))
    if "label_damaged" in state.open_reports:
        reasons.append(reason("LABEL_DAMAGED"))
    warnings = []
    if today < due <= today + dt.timedelta(days=params.inspection_warning_days):
        warnings.append(reason("INSPECTION_DUE_SOON", due.isoformat()))
    if today < end <= today + dt.timedelta(days=params.end_of_life_warning_days):
        warnings.append(reason("END_OF_LIFE_SOON", end.isoformat()))
    return reasons, warnings


def fill_check(
    state: CylinderState | None,
    station: StationView,
    owner: EnterpriseView | None,
    now: dt.datetime,
    params: Jurisdiction = DEFAULT,
    *,
    forged: bool = False,
    previous_station: StationView | None = None,
) -> Decision:
    """May this cylinder be filled at this station now? Every reason, in catalogue order."""
    if state is None:
        return unknown("")
    reasons: list[Reason] = [reason("FORGED_CODE")] if forged else []
    legal, warnings = legality(state, owner, now, params)
    reasons.extend(legal)
    if state.owner_id != station.enterprise_id:
        name = owner.name if owner else str(state.owner_id)
        reasons.append(reason("NOT_OWNED", name))
    if not station.licensed_on(params.today(now)):
        reasons.append(reason("STATION_NOT_LICENSED"))
    reasons.extend(clone_reasons(state, station, now, params, previous_station))
    return decide(_ordered(reasons), warnings, params)


def _ordered(reasons: list[Reason]) -> list[Reason]:
    from ledger.reasons import CATALOGUE

    order = {code: i for i, code in enumerate(CATALOGUE)}
    return sorted(reasons, key=lambda r: order[r.code])


def sellable(
    state: CylinderState, owner: EnterpriseView | None, now: dt.datetime, params: Jurisdiction
) -> tuple[list[Reason], list[Reason]]:
    """Legal to sell, and not overfilled: what every step on the road requires."""
    reasons, warnings = legality(state, owner, now, params)
    if state.overfilled:
        reasons.append(reason("OVERFILLED", state.last_net_kg))
    return reasons, warnings


def dispatch_check(
    state: CylinderState,
    owner: EnterpriseView | None,
    vehicle: VehicleView | None,
    driver_id: int | None,
    now: dt.datetime,
    params: Jurisdiction = DEFAULT,
) -> Decision:
    """May this cylinder be loaded onto this vehicle by this driver (shipping)?"""
    reasons, warnings = sellable(state, owner, now, params)
    reasons.extend(_vehicle_reasons(state, vehicle, driver_id, params.today(now)))
    return decide(_ordered(reasons), warnings, params)


def _vehicle_reasons(
    state: CylinderState, vehicle: VehicleView | None, driver_id: int | None, today: dt.date
) -> list[Reason]:
    if vehicle is None:
        return [reason("VEHICLE_NOT_PERMITTED", "未登记", "not registered")]
    out = []
    if vehicle.enterprise_id != state.owner_id:
        out.append(reason("VEHICLE_NOT_PERMITTED", "非本企业车辆", "not the owner's vehicle"))
    elif not vehicle.permitted_on(today):
        out.append(
            reason(
                "VEHICLE_NOT_PERMITTED",
                "无有效危险货物道路运输证",
                "no valid dangerous-goods permit",
            )
        )
    if driver_id is None or vehicle.driver_id != driver_id:
        out.append(reason("DRIVER_NOT_BOUND"))
    return out


def delivery_check(
    state: CylinderState,
    owner: EnterpriseView | None,
    customer: CustomerView,
    checklist: Mapping[str, bool | None],
    vehicle: VehicleView | None,
    driver_id: int | None,
    now: dt.datetime,
    params: Jurisdiction = DEFAULT,
) -> Decision:
    """May this cylinder be handed to this customer after this safety check (receiving)?"""
    reasons, warnings = sellable(state, owner, now, params)
    # Dual-phase (气液双相) cylinders are the 50 kg YSP118-II class: never to a restaurant
    # or canteen (2023 national gas safety campaign).
    if state.dual_phase and customer.kind in ("restaurant", "canteen"):
        reasons.append(reason("DUAL_PHASE_TO_RESTAURANT"))
    if customer.basement:
        reasons.append(reason("BASEMENT_SITE"))
    if vehicle is None:
        reasons.append(reason("DRIVER_NOT_BOUND"))
    else:  # on the road as at loading: the owner's vehicle, its permit valid today (DESIGN §5)
        reasons.extend(_vehicle_reasons(state, vehicle, driver_id, params.today(now)))
    failed = failed_items(checklist)
    if failed:
        reasons.append(
            reason(
                "SAFETY_CHECK_FAILED",
                "、".join(CHECKLIST_LABELS[i][0] for i in failed),
                ", ".join(CHECKLIST_LABELS[i][1] for i in failed),
            )
        )
    return decide(_ordered(reasons), warnings, params)


def failed_items(checklist: Mapping[str, bool | None]) -> list[str]:
    """The checklist items that failed, in checklist order (null: not applicable)."""
    return [item for item in CHECKLIST_LABELS if checklist.get(item) is False]


def weighing_warnings(state: CylinderState, net_kg: float, params: Jurisdiction) -> list[Reason]:
    """Short weight is recorded, not blocked: regulators look for it."""
    if net_kg < state.capacity_kg - params.fill_tolerance_kg:
        return [reason("SHORT_WEIGHT", net_kg)]
    return []
