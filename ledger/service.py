"""Use cases: each takes a session and its collaborators, changes nothing on refusal.

The caller owns the transaction (one per request): a use case flushes but
never commits, so a refusal anywhere rolls everything back.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.expression import Executable
from sqlmodel import Session, col

from ledger import codes, permissions
from ledger.chain import Defect, seal, verify_chain
from ledger.cylinders import parse_cylinder_spec
from ledger.errors import Conflict, Forbidden, Invalid, NotFound
from ledger.events import (
    ZERO_HASH,
    EventFields,
    PayloadError,
    payload_text,
    signing_message,
    validate_payload,
)
from ledger.ids import new_id
from ledger.keys import device_key_id, public_bytes, verify_ed25519
from ledger.model import Actor, Cylinder, Event, LogPending, SigningKey
from ledger.note import Signer

_IDEMPOTENCY_NS = uuid.UUID("6f1c6f7e-2b0e-4e54-9a53-0d5f0c1e1a11")
MAX_CLOCK_SKEW = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class Authority:
    """The server's keys and public identity."""

    server: Signer  # signs checkpoints and events of actors without a device key
    registry: Signer  # signs the codes printed in QR labels
    base_url: str
    origin: str

    @cached_property
    def server_key_id(self) -> str:
        """Event key id of the server key."""
        return device_key_id(public_bytes(self.server))

    def qr(self, code: str) -> str:
        """The signed QR URL of a code."""
        return codes.qr_url(self.base_url, code, self.registry)


def ensure_server_key(session: Session, authority: Authority) -> None:
    """Register the server's public key so server-signed events verify."""
    if session.get(SigningKey, authority.server_key_id) is None:
        session.add(
            SigningKey(key_id=authority.server_key_id, public_key=public_bytes(authority.server))
        )
        session.flush()


def signing_keys(session: Session) -> dict[str, bytes]:
    """Every registered event-signing key by id."""
    return {
        k: v for k, v in session.execute(select(col(SigningKey.key_id), col(SigningKey.public_key)))
    }


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
    _append(
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
    cylinder = _lock_head(session, code)
    if not permissions.can_append(actor, event_type, cylinder.owner_id):
        raise Forbidden(f"role {actor.role} may not record '{event_type}' on this cylinder")
    if event_id is not None:
        existing = session.get(Event, event_id)
        if existing is not None:
            return _replayed(existing, actor, cylinder, event_type, clean), False
    event = _append(
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


class ChainHead(NamedTuple):
    """What an append needs of its cylinder: identity, owner and the head of its chain."""

    id: str
    owner_id: int
    head_seq: int
    head_hash: bytes


def _lock_head(session: Session, code: str) -> ChainHead:
    """Lock the cylinder's row (PostgreSQL) and read its chain head: appends never fork."""
    query = (
        select(
            _CYLINDERS.c.id, _CYLINDERS.c.owner_id, _CYLINDERS.c.head_seq, _CYLINDERS.c.head_hash
        )
        .where(_CYLINDERS.c.code == code)
        .with_for_update()
    )
    row = session.execute(query).first()
    if row is None:
        raise NotFound(f"no cylinder with code {code}")
    return ChainHead(*row)


def _replayed(
    event: Event, actor: Actor, cylinder: ChainHead, event_type: str, payload: Mapping[str, Any]
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


def _append(
    session: Session,
    authority: Authority,
    actor: Actor,
    cylinder: Cylinder | ChainHead,
    event_type: str,
    payload: Mapping[str, Any],
    occurred_at: dt.datetime,
    now: dt.datetime,
    event_id: str,
    signature: bytes | None,
) -> Event:
    assert actor.id is not None
    station = payload.get("station_id") if event_type in ("filled", "fill_blocked") else None
    site = payload.get("customer_id") if event_type in ("delivered", "returned") else None
    fields = EventFields(
        id=event_id,
        cylinder=cylinder.id,
        type=event_type,
        occurred_at=occurred_at,
        recorded_at=now,
        actor=actor.id,
        station=station or actor.station_id,
        site=site,
        payload=payload,
        prev_hash=cylinder.head_hash if cylinder.head_seq else ZERO_HASH,
        key_id="",
        payload_json=payload_text(payload),
    )
    fields, signature = _sign(actor, authority, fields, signature)
    assert fields.payload_json is not None
    event = seal(fields, signature, seq=cylinder.head_seq + 1, payload_text=fields.payload_json)
    _write(session, event)
    if isinstance(cylinder, Cylinder):  # a loaded row: keep it in step without an UPDATE
        set_committed_value(cylinder, "head_seq", event.seq)
        set_committed_value(cylinder, "head_hash", event.hash)
    return event


_EVENTS = Event.__table__  # type: ignore[attr-defined]
_PENDING = LogPending.__table__  # type: ignore[attr-defined]
_CYLINDERS = Cylinder.__table__  # type: ignore[attr-defined]
_EVENT_COLUMNS = tuple(Event.model_fields)


def _pg_append_statement() -> Executable:
    """Insert the event, queue it and move the chain head in one PostgreSQL round trip.

    Built once with bind parameters, so SQLAlchemy compiles it once.
    """
    ins = (
        insert(_EVENTS)
        .values({c: bindparam(f"e_{c}") for c in _EVENT_COLUMNS})
        .returning(_EVENTS.c.id, _EVENTS.c.hash)
        .cte("ins")
    )
    queued = insert(_PENDING).from_select(["event_id", "event_hash"], select(ins)).cte("queued")
    return (
        update(_CYLINDERS)
        .where(_CYLINDERS.c.id == bindparam("e_cylinder_id"))
        .values(head_seq=bindparam("e_seq"), head_hash=bindparam("e_hash"))
        .add_cte(ins)
        .add_cte(queued)
    )


_PG_APPEND = _pg_append_statement()


def _write(session: Session, event: Event) -> None:
    """Store the event, queue it for the log and move the chain head: core statements, since
    this is the hot path of every scan and the ORM's unit of work costs more than the I/O."""
    row = {c: getattr(event, c) for c in _EVENT_COLUMNS}
    head = {"head_seq": event.seq, "head_hash": event.hash}
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_PG_APPEND, {f"e_{c}": v for c, v in row.items()})
        return
    session.execute(insert(_EVENTS), [row])
    session.execute(insert(_PENDING), [{"event_id": event.id, "event_hash": event.hash}])
    session.execute(update(_CYLINDERS).where(_CYLINDERS.c.id == event.cylinder_id).values(head))


def _sign(
    actor: Actor, authority: Authority, fields: EventFields, signature: bytes | None
) -> tuple[EventFields, bytes]:
    """Use the device's own signature when it sent one, else the server's."""
    from dataclasses import replace

    if signature is None:
        signed = replace(fields, key_id=authority.server_key_id)
        return signed, authority.server.sign(signing_message(signed))
    if actor.public_key is None:
        raise Invalid("this actor has no registered device key to sign with")
    signed = replace(fields, key_id=device_key_id(actor.public_key))
    if not verify_ed25519(actor.public_key, signing_message(signed), signature):
        raise Invalid("the event signature does not verify with the actor's device key")
    return signed, signature


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
