"""Use cases: each takes a session and its collaborators, changes nothing on refusal.

The caller owns the transaction (one per request): a use case flushes but
never commits, so a refusal anywhere rolls everything back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from ledger import blocks, codes, event_time, lifecycle, permissions, projection, rules, writer
from ledger.authority import Authority, signing_keys
from ledger.chain import Defect, EventRow, verify_chain
from ledger.cylinders import parse_cylinder_spec
from ledger.errors import Conflict, Forbidden, Invalid, not_allowed_to_record, unknown_code
from ledger.event_ids import stored_event
from ledger.events import PayloadError, load_payload, payload_text
from ledger.fill_weights import record as record_weight
from ledger.ids import idempotent_id, new_id
from ledger.model import Actor, Cylinder, Event
from ledger.model_rules import RetiredCode
from ledger.params import DEFAULT, Jurisdiction
from ledger.payloads import validate_payload
from ledger.reasons import Reason, reason
from ledger.rules import Decision
from ledger.state import CylinderState, apply, registered
from ledger.store import advisory_lock
from ledger.transitions import transition_error

_EVENTS = Event.__table__  # type: ignore[attr-defined]
_EVENT_COLUMNS = [_EVENTS.c[name] for name in EventRow._fields]


def find_cylinder(session: Session, code: str) -> Cylinder:
    """The cylinder with this code, or NotFound."""
    query = select(Cylinder).where(col(Cylinder.code) == code)
    cylinder: Cylinder | None = session.execute(query).scalar_one_or_none()
    if cylinder is None:
        raise unknown_code(code)
    return cylinder


def register_cylinder(
    session: Session,
    authority: Authority,
    actor: Actor,
    data: Mapping[str, Any],
    now: dt.datetime,
    idempotency_key: str | None = None,
    params: Jurisdiction = DEFAULT,
) -> tuple[Cylinder, bool]:
    """Register a cylinder for the actor's enterprise; (cylinder, created)."""
    if not permissions.can_register(actor):
        raise Forbidden("only an enterprise administrator registers cylinders")
    spec = parse_cylinder_spec(data, today=params.today(now))
    cylinder_id = idempotent_id(actor, idempotency_key) or new_id()
    existing = session.get(Cylinder, cylinder_id)
    if existing is not None:
        if spec.code not in (None, existing.code) or spec.serial != existing.serial:
            raise Conflict("this Idempotency-Key was used for a different cylinder")
        return existing, False
    code = spec.code or _fresh_code(session)
    if spec.code and _code_taken(session, code):
        raise Conflict(f"code {code} is already taken (codes are never reused)")
    assert actor.enterprise_id is not None
    cylinder = spec.to_cylinder(cylinder_id, code, actor.enterprise_id, now)
    session.add(cylinder)
    session.flush()
    payload = spec.registration_payload(code, actor.enterprise_id)
    twin = _same_serial(session, spec.manufacturer, spec.serial, cylinder_id)
    if twin is not None:
        payload["duplicate_serial_of"] = twin  # refurbished or cloned: recorded, and blocked
    event = writer.append(
        session, authority, actor, cylinder, "registered", payload, now, now, new_id(), None
    )
    state = registered(cylinder.id, load_payload(event.payload), event.occurred_at)
    projection.save(session, state, params, new=True)
    return cylinder, True


def _code_taken(session: Session, code: str) -> bool:
    in_use = session.execute(select(col(Cylinder.id)).where(col(Cylinder.code) == code)).first()
    return in_use is not None or session.get(RetiredCode, code) is not None


def _same_serial(session: Session, manufacturer: str, serial: str, cylinder_id: str) -> str | None:
    """The code of another cylinder with this maker's serial (钢印号), if any."""
    query = select(col(Cylinder.code)).where(
        col(Cylinder.manufacturer) == manufacturer,
        col(Cylinder.serial) == serial,
        col(Cylinder.id) != cylinder_id,
    )
    return session.execute(query.limit(1)).scalar_one_or_none()


def _fresh_code(session: Session) -> str:
    for _ in range(8):
        code = codes.new_code()
        if not _code_taken(session, code):
            return code
    raise Conflict("could not draw an unused code")  # 55 random bits: practically never


@dataclass
class Appended:
    """The outcome of an append: the event written, and whether the rules refused it.

    A refused dispatch or delivery still writes its ``delivery_blocked`` event (evidence):
    the caller commits, then answers 409 with ``refusal``'s reasons.
    """

    event: Event
    created: bool
    refusal: Decision | None = None
    warnings: list[Reason] = field(default_factory=list)
    offline_conflict: Decision | None = None


SERVER_ONLY_TYPES = frozenset({"registered", "delivery_blocked"})


def append_event(
    session: Session,
    authority: Authority,
    actor: Actor,
    code: str,
    event_type: str,
    payload: Any,
    now: dt.datetime,
    *,
    occurred_at: dt.datetime | None = None,
    event_id: str | None = None,
    signature: bytes | None = None,
    params: Jurisdiction = DEFAULT,
) -> Appended:
    """Append one event to a cylinder's chain if its rules allow; a retry returns the first."""
    if event_type in SERVER_ONLY_TYPES:
        raise Invalid(
            f"「{event_type}」由服务器自行记录 / '{event_type}' is recorded by the server itself"
        )
    try:
        clean = validate_payload(event_type, payload)
    except PayloadError as exc:
        raise Invalid(str(exc)) from exc
    offline = bool(clean.get("offline"))
    occurred_at = event_time.claimed(occurred_at, now, offline=offline)
    cylinder = writer.lock_head_for(session, code, event_type)
    if not permissions.can_append(actor, event_type, cylinder.owner_id):
        other = actor.enterprise_id is not None and actor.enterprise_id != cylinder.owner_id
        raise not_allowed_to_record(actor.role, event_type, other)
    if not offline:  # an offline record is bounded by its own window (ledger.lifecycle)
        event_time.not_before_registration(occurred_at, cylinder.registered_at)
    if event_id is not None:
        existing = _stored(session, event_id)
        if existing is not None:
            return _replayed(existing, actor, cylinder, event_type, clean)
    if (online := blocks.recorded_for_check(session, actor, cylinder.id, clean)) is not None:
        return Appended(online, False)  # the same blocked attempt, already on the chain
    state = current_state(session, cylinder.id, params)
    illegal = transition_error(state, event_type, clean)
    if illegal is not None and not (event_type == "filled" and clean.get("offline")):
        # An offline fill already happened: it is recorded whatever the state, and the
        # rules' verdict on it (e.g. SCRAPPED) is reported below as an offline conflict;
        # the fold keeps a condemned or scrapped cylinder so (ledger.state.TERMINAL).
        raise refused(rules.Decision(False, (illegal,)))
    req = lifecycle.Request(session, actor, state, event_type, clean, occurred_at, now, params)
    gate = lifecycle.gate(req)
    if gate.refusal is not None and gate.record_refusal is None:
        raise refused(gate.refusal)
    kind, body = gate.record_refusal or (event_type, clean)
    event = writer.append(
        session, authority, actor, cylinder, kind, body, occurred_at, now,
        event_id or new_id(), None if gate.record_refusal else signature,
    )  # fmt: skip
    state = _project(session, state, event, params)
    if gate.refusal is not None:
        return Appended(event, True, refusal=gate.refusal)
    for effect in gate.effects:
        effect()
    if gate.offline_conflict is not None:
        # The chain head after the fill is the fill itself: no second lock or read.
        head = writer.ChainHead(
            cylinder.id, cylinder.owner_id, event.seq, event.hash, cylinder.registered_at
        )
        _report_offline_conflict(session, authority, actor, head, state, gate, now, params)
    return Appended(event, True, None, gate.warnings, gate.offline_conflict)


def refused(decision: Decision) -> Conflict:
    """The 409 for a decision that forbids: its reasons in the problem document."""
    zh = "；".join(r.message_zh for r in decision.reasons)
    return Conflict(f"{zh} / refused by the rules", reasons=[r.to_dict() for r in decision.reasons])


def current_state(session: Session, cylinder_id: str, params: Jurisdiction) -> CylinderState:
    """The projected state, folded from the events when the projection lacks it."""
    state = projection.load(session, cylinder_id)
    if state is None:
        state = projection.fold_from_events(session, cylinder_id, params)
        projection.save(session, state, params, new=True)
    return state


def _project(
    session: Session, state: CylinderState, event: Event, params: Jurisdiction
) -> CylinderState:
    seen = projection.view(event)
    new = apply(state, seen, params.fill_tolerance_kg)
    projection.save(session, new, params, new=False)
    if event.type == "filled":  # the short-weight list's row, judged on the state it met
        record_weight(session.connection(), state, event, seen.payload)
    return new


def _report_offline_conflict(
    session: Session,
    authority: Authority,
    actor: Actor,
    head: writer.ChainHead,
    state: CylinderState,
    gate: lifecycle.Gate,
    now: dt.datetime,
    params: Jurisdiction,
) -> None:
    """An offline fill the rules would have blocked: the server files it for the regulator."""
    assert gate.offline_conflict is not None
    note = "离线充装冲突 offline fill conflict: " + ",".join(gate.offline_conflict.codes)
    payload = {"kind": "offline_conflict", "note": note[:500]}
    event = writer.append(
        session, authority, actor, head, "reported", payload, now, now, new_id(), None
    )
    _project(session, state, event, params)


def _stored(session: Session, event_id: str) -> Event | None:
    """The event already stored under a client-chosen id, whatever its month.

    Two appends with one id wait for each other on a lock on the id (their chain locks
    differ if their cylinders do), and the second finds the first here and is answered as
    a replay or a conflict; without the lock the second would fail on ``event_ids``' key
    (PostgreSQL, ``ledger.event_ids``) or ``events``' (SQLite) with a database error.
    """
    advisory_lock(session, f"event-id:{event_id}")
    return stored_event(session, event_id)


def _replayed(
    event: Event,
    actor: Actor,
    cylinder: writer.ChainHead,
    event_type: str,
    payload: Mapping[str, Any],
) -> Appended:
    if (
        event.type == "delivery_blocked"
        and event.actor_id == actor.id
        and event.cylinder_id == cylinder.id
    ):
        codes_ = load_payload(event.payload)["reasons"]
        decision = rules.Decision(False, tuple(reason(c) for c in codes_))
        return Appended(event, False, refusal=decision)
    same = (
        event.actor_id == actor.id
        and event.cylinder_id == cylinder.id
        and event.type == event_type
        and event.payload == payload_text(payload)
    )
    if not same:
        raise Conflict("this event id or Idempotency-Key was used for a different event")
    return Appended(event, False)


def history(session: Session, cylinder: Cylinder) -> tuple[list[EventRow], Defect | None]:
    """A cylinder's events in chain order and the first defect of its chain, if any.

    Plain rows, not ORM objects: a long life has thousands of events, and an object per
    event cost a third of the read (as in the audit)."""
    query = select(*_EVENT_COLUMNS).where(_EVENTS.c.cylinder_id == cylinder.id)
    events = [EventRow._make(row) for row in session.execute(query.order_by(_EVENTS.c.seq))]
    defect = verify_chain(events, signing_keys(session))
    if defect is None and (
        cylinder.head_seq != len(events) or (events and cylinder.head_hash != events[-1].hash)
    ):
        defect = Defect(
            cylinder.id,
            cylinder.id,
            cylinder.head_seq,
            "the chain head does not match the last event (an event was removed)",
        )
    return events, defect
