"""Which event may follow which state: the cylinder's life cycle as a table (pure).

``filled`` is gated by the fill rules rather than by status (an empty collected without
a scan is still filled legally); everything else must follow its cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ledger.reasons import Reason, reason
from ledger.state import HOLDING_REPORTS, CylinderState

ANY = frozenset({"empty", "full", "in_transit", "at_customer", "condemned", "scrapped"})
LIVE = ANY - {"scrapped"}
USABLE = LIVE - {"condemned"}

# event type → (statuses it may follow, why not in Chinese, in English)
ALLOWED_FROM: dict[str, tuple[frozenset[str], str, str]] = {
    "filled": (USABLE, "气瓶已报废或判废", "the cylinder is scrapped or condemned"),
    "fill_blocked": (ANY, "", ""),
    "delivery_blocked": (ANY, "", ""),
    "dispatched": (
        frozenset({"full"}),
        "只有已充装的气瓶可以装车",
        "only a filled cylinder is loaded",
    ),
    "delivered": (frozenset({"in_transit"}), "气瓶未装车出站", "the cylinder was not dispatched"),
    "returned": (
        frozenset({"full", "in_transit", "at_customer"}),
        "气瓶已在站内（空瓶）",
        "the cylinder is already back (empty)",
    ),
    "inspected": (
        frozenset({"empty", "full"}),
        "气瓶须在站内方可检验",
        "only a cylinder at the station is inspected",
    ),
    "relabelled": (LIVE, "气瓶已报废", "the cylinder is scrapped"),
    "ownership_transferred": (USABLE, "气瓶已报废或判废", "the cylinder is scrapped or condemned"),
    "reported": (ANY, "", ""),
    "held": (LIVE, "气瓶已报废", "the cylinder is scrapped"),
    "released": (ANY, "", ""),
    # A cylinder on a truck is scrapped once it is back (returned), not on the road.
    "scrapped": (LIVE - {"in_transit"}, "气瓶已报废", "the cylinder is already scrapped"),
}


_ENDED = {
    "scrapped": ("气瓶已报废", "the cylinder is scrapped"),
    "condemned": ("气瓶已检验判废", "the cylinder was condemned at inspection"),
}


def _illegal(zh: str, en: str) -> Reason:
    return reason("ILLEGAL_TRANSITION", zh, en)


def transition_error(
    state: CylinderState, event_type: str, payload: Mapping[str, Any]
) -> Reason | None:
    """Why this event may not follow the cylinder's current state, or None when it may."""
    allowed, zh, en = ALLOWED_FROM[event_type]
    if event_type == "scrapped" and state.status == "in_transit":
        return _illegal("气瓶在运输途中，须先回收再报废", "on a truck: return it first")
    if state.status not in allowed:
        # The end of a cylinder's life is why, whatever the step: "scrapped", not "only a
        # filled cylinder is loaded" (a driver loading one must hear what it is).
        return _illegal(*_ENDED.get(state.status, (zh, en)))
    if event_type == "held" and state.held:
        return _illegal("气瓶已被扣留", "the cylinder is already held")
    if event_type == "released" and not (
        state.held
        or state.refurbished
        or any(k in HOLDING_REPORTS or k == "offline_conflict" for k in state.open_reports)
    ):
        return _illegal("气瓶未被扣留，无可解除", "nothing holds the cylinder")
    if event_type == "relabelled" and payload.get("new_code") == state.code:
        return _illegal("新码与旧码相同", "the new code is the current code")
    if event_type == "ownership_transferred" and payload.get("to_enterprise") == state.owner_id:
        return _illegal("已归该企业所有", "the cylinder already belongs to that enterprise")
    return None
