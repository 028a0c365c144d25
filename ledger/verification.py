"""What the public sees when it scans a cylinder's QR (``/c/{code}``): a read model.

Safe to use or not, with the reasons of ``rules.legality`` (the rules every step on the
road applies) and a counterfeit warning when the code's signature is forged. Nothing
personal: the owner enterprise's name, its licences, the filling station's name. A
regulator's hold shows as a fixed category, never the hold's free-text reason (which may
name people or an investigation).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlmodel import Session, col

from ledger import codes, facts_db, rules
from ledger.authority import Authority
from ledger.errors import unknown_code
from ledger.facts import LicenceView
from ledger.keys import public_bytes
from ledger.model import Cylinder, Station
from ledger.model_rules import RetiredCode
from ledger.params import Jurisdiction
from ledger.reasons import Reason, reason
from ledger.service import current_state
from ledger.state import HOLDING_REPORTS, CylinderState

HELD_BY_REGULATOR = ("监管扣押", "held by the regulator")  # what the public sees of a hold


@dataclass(frozen=True)
class PublicView:
    """A cylinder's public page."""

    code: str
    decision: rules.Decision
    forged: bool
    retired: bool
    state: CylinderState
    owner_name: str
    owner_blacklisted: bool
    licences: tuple[tuple[LicenceView, bool], ...]  # (licence, valid today)
    last_fill_station: str | None
    next_inspection_due: dt.date
    end_of_life: dt.date


def signature_of(text: str | None) -> bytes | None:
    """The ``s`` parameter of a QR URL as bytes; malformed base64 counts as a bad signature."""
    if text is None:
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return b"malformed"


def public_view(
    session: Session,
    authority: Authority,
    code: str,
    signature: bytes | None,
    now: dt.datetime,
    params: Jurisdiction,
) -> PublicView:
    """The public verdict on a scanned code; NotFound when no cylinder ever carried it."""
    code = codes.normalise(code)
    if not codes.is_valid_code(code):
        raise unknown_code(code)
    cylinder_id = session.execute(
        select(col(Cylinder.id)).where(col(Cylinder.code) == code)
    ).scalar_one_or_none()
    retired = False
    if cylinder_id is None:
        old = session.get(RetiredCode, code)
        if old is None:
            raise unknown_code(code)
        cylinder_id, retired = old.cylinder_id, True
    forged = signature is not None and not codes.verify_code(
        code, signature, public_bytes(authority.registry)
    )
    state = current_state(session, cylinder_id, params)
    owner = facts_db.enterprise(session, state.owner_id)
    # Legal to sell, and not overfilled: an overfilled cylinder must not reach a kitchen.
    reasons, warnings = rules.sellable(state, owner, now, params)
    reasons = [_public_reason(state, r) for r in reasons]
    if state.held:
        state = replace(state, held=" / ".join(HELD_BY_REGULATOR))
    if forged:
        reasons.insert(0, reason("FORGED_CODE"))
    if retired:
        reasons.insert(0, rules.unknown(code, retired=True).reasons[0])
    decision = rules.decide(reasons, warnings, params)
    today = params.today(now)
    station = session.get(Station, state.last_fill_station) if state.last_fill_station else None
    return PublicView(
        code=code,
        decision=decision,
        forged=forged,
        retired=retired,
        state=state,
        owner_name=owner.name if owner else "",
        owner_blacklisted=bool(owner and owner.blacklisted),
        licences=tuple((lic, lic.valid_on(today)) for lic in (owner.licences if owner else ())),
        last_fill_station=station.name if station else None,
        next_inspection_due=state.next_inspection_due(params),
        end_of_life=state.end_of_life(params),
    )


def _public_reason(state: CylinderState, found: Reason) -> Reason:
    """A reason in the words its reader needs: the station's own ("may not leave the
    station") or the regulator's are not a restaurant's."""
    if found.code == "HELD":
        return _public_hold(state)
    if found.code == "OVERFILLED":
        zh, en = PUBLIC_OVERFILLED
        return Reason(found.code, zh.format(state.last_net_kg), en.format(state.last_net_kg))
    return found


# What a user does with an overfilled cylinder: an overfilled one can burst as it warms.
PUBLIC_OVERFILLED = (
    "上次充装超重（净重{}kg），超装气瓶受热易超压：请勿使用，联系供气企业更换",
    "overfilled at its last fill (net {} kg), which is dangerous as it warms: do not use it;"
    " ask the supplier to replace it",
)


def _public_hold(state: CylinderState) -> Reason:
    """The HELD reason as the public sees it: the fixed names of the holding reports and
    "held by the regulator", never the regulator's own words."""
    names = [rules.REPORT_NAMES[k] for k in state.open_reports if k in HOLDING_REPORTS]
    if state.held:
        names.append(HELD_BY_REGULATOR)
    return reason("HELD", "、".join(n[0] for n in names), ", ".join(n[1] for n in names))
