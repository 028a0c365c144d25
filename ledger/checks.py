"""The fill check at the nozzle (DESIGN §5): decide, keep the decision, record a block.

Every check is kept in ``fill_checks`` (a ``filled`` event needs a recent allowing one);
a check that blocks a known cylinder is also a ``fill_blocked`` event on its chain, so
the regulator sees every attempted illegal fill. A retry under the same
Idempotency-Key returns the first decision and records nothing new.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, insert, select, text
from sqlmodel import Session

from ledger import codes, facts_db, projection, rules, writer
from ledger.authority import Authority
from ledger.errors import Forbidden, Invalid, NotFound
from ledger.facts import StationView
from ledger.ids import new_id
from ledger.keys import public_bytes
from ledger.model import Actor, Cylinder, Role
from ledger.model_rules import CylinderStateRow, FillCheck, RetiredCode
from ledger.params import DEFAULT, Jurisdiction
from ledger.service import current_state, idempotent_id
from ledger.state import CylinderState, apply

_CHECKS = FillCheck.__table__  # type: ignore[attr-defined]
_CYLINDERS = Cylinder.__table__  # type: ignore[attr-defined]
_STATES = CylinderStateRow.__table__  # type: ignore[attr-defined]
_INSERT_CHECK = insert(_CHECKS)


@dataclass(frozen=True)
class CheckResult:
    """A fill check's answer."""

    check_id: str
    decision: rules.Decision
    state: CylinderState | None
    created: bool


def checking_station(session: Session, actor: Actor, station_id: int) -> StationView:
    """The station a check is made at: the actor's own (a station device is bound to one).

    The view carries no licences yet: ``fill_check`` loads them with the owner's.
    """
    if actor.role != Role.FILLING_OPERATOR:
        raise Forbidden("only a filling station makes fill checks")
    station = facts_db.station_alone(session, station_id)
    if station is None:
        raise NotFound(f"no station {station_id}")
    if actor.enterprise_id != station.enterprise_id or actor.station_id not in (None, station_id):
        raise Forbidden("a station checks at its own nozzle only")
    return station


def fill_check(
    session: Session,
    authority: Authority,
    actor: Actor,
    station_id: int,
    scan_text: str,
    now: dt.datetime,
    params: Jurisdiction = DEFAULT,
    idempotency_key: str | None = None,
) -> CheckResult:
    """Check a scanned cylinder for filling at a station; record the decision."""
    station = checking_station(session, actor, station_id)
    check_id = idempotent_id(actor, idempotency_key) or new_id()
    if idempotency_key is not None and (earlier := session.get(FillCheck, check_id)):
        return _replay(session, earlier, params)
    try:
        scan = codes.parse_scan(scan_text)
    except codes.ScanError as exc:
        raise Invalid(f"不是气瓶码 / not a cylinder code: {exc}") from exc
    forged = scan.signature is not None and not codes.verify_code(
        scan.code, scan.signature, public_bytes(authority.registry)
    )
    cylinder_id, state, head = _resolve(session, scan.code, params)
    retired = state is not None and head is None
    known = facts_db.licences(
        session, [station.enterprise_id, *([state.owner_id] if state else [])]
    )
    station = facts_db.with_licences(station, known[station.enterprise_id])
    if state is None:
        decision = rules.unknown(scan.code)
    elif retired:
        decision = rules.unknown(scan.code, retired=True)
    else:
        decision = rules.fill_check(
            state, station, facts_db.enterprise(session, state.owner_id, known), now, params,
            forged=forged, previous_station=_previous_station(session, state, station),
        )  # fmt: skip
    event_id = None
    if state is not None and not decision.allowed:
        payload = {"station_id": station.id, "reasons": list(decision.codes), "scan": scan.code}
        event_id = _record_block(session, authority, actor, state, head, payload, now, params)
    elif decision.allowed:
        _commit_lazily(session)
    row = {
        "id": check_id, "cylinder_id": cylinder_id, "station_id": station.id,
        "actor_id": actor.id, "code": scan.code, "allowed": decision.allowed,
        "decision": json.dumps(decision.to_dict(), ensure_ascii=False),
        "event_id": event_id, "checked_at": now,
    }  # fmt: skip
    session.connection().execute(_INSERT_CHECK, row)
    return CheckResult(check_id, decision, state, True)


def _commit_lazily(session: Session) -> None:
    """An allowing check writes only its ``fill_checks`` row: operational data, not evidence
    (a lost row costs a rescan, never a record), so PostgreSQL need not wait for the disk."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit TO OFF"))


# The cylinder's chain head (locked, as for any append: a block is written at once, with no
# second lock and no re-read) and its projected state, in one round trip.
_HEAD_AND_STATE = (
    select(
        _CYLINDERS.c.id, _CYLINDERS.c.owner_id, _CYLINDERS.c.head_seq, _CYLINDERS.c.head_hash,
        _STATES.c.state,
    )
    .select_from(_CYLINDERS.outerjoin(_STATES, _STATES.c.cylinder_id == _CYLINDERS.c.id))
    .where(_CYLINDERS.c.code == bindparam("code"))
    .with_for_update(of=_CYLINDERS)
)  # fmt: skip


def _resolve(
    session: Session, code: str, params: Jurisdiction
) -> tuple[str | None, CylinderState | None, writer.ChainHead | None]:
    """(cylinder id, its state, its locked chain head) for a scanned code.

    A retired code gives its cylinder and state but no head: it is not the cylinder's code.
    """
    row = session.connection().execute(_HEAD_AND_STATE, {"code": code}).first()
    if row is not None:
        head = writer.ChainHead(*row[:4])
        state = (
            CylinderState.from_dict(json.loads(row[4]))
            if row[4] is not None
            else current_state(session, head.id, params)
        )
        return head.id, state, head
    retired = session.get(RetiredCode, code)
    if retired is None:
        return None, None, None
    return retired.cylinder_id, current_state(session, retired.cylinder_id, params), None


def _previous_station(
    session: Session, state: CylinderState, station: StationView
) -> StationView | None:
    if state.last_scan_station is None or state.last_scan_station == station.id:
        return None
    return facts_db.station_alone(session, state.last_scan_station)  # its place, not licences


def _record_block(
    session: Session,
    authority: Authority,
    actor: Actor,
    state: CylinderState,
    head: writer.ChainHead | None,
    payload: dict[str, Any],
    now: dt.datetime,
    params: Jurisdiction,
) -> str:
    """Write the ``fill_blocked`` event of a refused check on the locked head; its id."""
    if head is None:  # a retired code: lock the cylinder it named, and read its state anew
        head = writer.lock_head_by_id(session, state.cylinder_id)
        state = current_state(session, state.cylinder_id, params)
    event = writer.append(
        session, authority, actor, head, "fill_blocked", payload, now, now, new_id(), None
    )
    after = apply(state, projection.view(event), params.fill_tolerance_kg)
    projection.save(session, after, params, new=False)
    return event.id


def _replay(session: Session, row: FillCheck, params: Jurisdiction) -> CheckResult:
    state = current_state(session, row.cylinder_id, params) if row.cylinder_id else None
    return CheckResult(row.id, rules.Decision.from_dict(json.loads(row.decision)), state, False)
