"""Use cases: each takes a session and its collaborators, changes nothing on refusal.

The caller owns the transaction (one per request): a use case flushes but
never commits, so a refusal anywhere rolls everything back.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from ledger import codes, permissions, writer
from ledger.authority import Authority, signing_keys
from ledger.chain import Defect, verify_chain
from ledger.cylinders import parse_cylinder_spec
from ledger.errors import Conflict, Forbidden, Invalid, NotFound
from ledger.events import (
    PayloadError,
    payload_text,
    validate_payload,
)
from ledger.ids import new_id
from ledger.model import Actor, Cylinder, Event

_IDEMPOTENCY_NS = uuid.UUID("6f1c6f7e-2b0e-4e54-9a53-0d5f0c1e1a11")
MAX_CLOCK_SKEW = dt.timedelta(minutes=10)


def idempotent_id(actor: Actor, key: str | None) -> str | None:
    """A stable record id for an actor's Idempotency-Key, so a retry finds its first answer."""
    if key is None:
        return None
    if not 1 <= len(key) <= 255:
        raise Invalid("Idempotency-Key must be 1–255 characters")
    return str(uuid.uuid5(_IDEMPOTENCY_NS, f"{actor.id}:{key}"))


def find_cylinder(session: Session, code: str) -> Cylinder:
    """The cylinder with this code, or NotFound."""
    query = select(Cylinder).where(col(Cylinder.code) == code)
    cylinder: Cylinder | None = session.execute(query).scalar_one_or_none()
    if cylinder is None:
        raise NotFound(f"no cylinder with code {code}")
    return cylinder


def register_cylinder(
    session: Session,
    authority: Authority,
    actor: Actor,
    data: Mapping[str, Any],
    now: dt.datetime,
    idempotency_key: str | None = None,
) -> tuple[Cylinder, bool]:
    """Register a cylinder for the actor's enterprise; (cylinder, created)."""
    if not permissions.can_register(actor):
        raise Forbidden("only an enterprise administrator registers cylinders")
    spec = parse_cylinder_spec(data, today=now.date())
    cylinder_id = idempotent_id(actor, idempotency_key) or new_id()
    existing = session.get(Cylinder, cylinder_id)
    if existing is not None:
        if spec.code not in (None, existing.code) or spec.serial != existing.serial:
            raise Conflict("this Idempotency-Key was used for a different cylinder")
        return existing, False
    code = spec.code or _fresh_code(session)
    if (
        spec.code
        and session.execute(select(col(Cylinder.id)).where(col(Cylinder.code) == code)).first()
    ):
        raise Conflict(f"code {code} is already taken (codes are never reused)")
    assert actor.enterprise_id is not None
    cylinder = spec.to_cylinder(cylinder_id, code, actor.enterprise_id, now)
    session.add(cylinder)
    session.flush()
    writer.append(
        session,
        authority,
        actor,
        cylinder,
        "registered",
        spec.registration_payload(code, actor.enterprise_id),
        now,
        now,
        new_id(),
        None,
    )
    return cylinder, True


def _fresh_code(session: Session) -> str:
    for _ in range(8):
        code = codes.new_code()
        if not session.execute(select(col(Cylinder.id)).where(col(Cylinder.code) == code)).first():
            return code
    raise Conflict("could not draw an unused code")  # 55 random bits: practically never


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
) -> tuple[Event, bool]:
    """Append one event to a cylinder's chain; (event, created). A retry returns the first."""
    if event_type == "registered":
        raise Invalid("'registered' is recorded by registering the cylinder")
    try:
        clean = validate_payload(event_type, payload)
    except PayloadError as exc:
        raise Invalid(str(exc)) from exc
    occurred_at = occurred_at or now
    if occurred_at > now + MAX_CLOCK_SKEW:
        raise Invalid("occurred_at is in the future")
    cylinder = writer.lock_head(session, code)
    if not permissions.can_append(actor, event_type, cylinder.owner_id):
        raise Forbidden(f"role {actor.role} may not record '{event_type}' on this cylinder")
    if event_id is not None:
        existing = session.get(Event, event_id)
        if existing is not None:
            return _replayed(existing, actor, cylinder, event_type, clean), False
    event = writer.append(
        session,
        authority,
        actor,
        cylinder,
        event_type,
        clean,
        occurred_at,
        now,
        event_id or new_id(),
        signature,
    )
    return event, True


def _replayed(
    event: Event,
    actor: Actor,
    cylinder: writer.ChainHead,
    event_type: str,
    payload: Mapping[str, Any],
) -> Event:
    same = (
        event.actor_id == actor.id
        and event.cylinder_id == cylinder.id
        and event.type == event_type
        and event.payload == payload_text(payload)
    )
    if not same:
        raise Conflict("this event id or Idempotency-Key was used for a different event")
    return event


def history(session: Session, cylinder: Cylinder) -> tuple[list[Event], Defect | None]:
    """A cylinder's events in chain order and the first defect of its chain, if any."""
    events = list(
        session.execute(
            select(Event).where(Event.cylinder_id == cylinder.id).order_by(Event.seq)  # type: ignore[arg-type]
        ).scalars()
    )
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
