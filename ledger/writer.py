"""Writing one event: lock the chain head, sign, hash, store, queue for the log.

This is the hot path of every scan at the nozzle, so it speaks SQL core, not the ORM.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, NamedTuple

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.expression import Executable
from sqlmodel import Session

from ledger.authority import Authority
from ledger.chain import seal
from ledger.errors import Invalid, NotFound
from ledger.events import ZERO_HASH, EventFields, payload_text, signing_message
from ledger.keys import device_key_id, verify_ed25519
from ledger.model import Actor, Cylinder, Event, LogPending


class ChainHead(NamedTuple):
    """What an append needs of its cylinder: identity, owner and the head of its chain."""

    id: str
    owner_id: int
    head_seq: int
    head_hash: bytes


def lock_head(session: Session, code: str) -> ChainHead:
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


def append(
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
    """Sign, hash and store one event at the head of its cylinder's chain, queued for the log."""
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
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_PG_APPEND, {f"e_{c}": getattr(event, c) for c in _EVENT_COLUMNS})
        return
    session.execute(insert(_EVENTS), [{c: getattr(event, c) for c in _EVENT_COLUMNS}])
    session.execute(insert(_PENDING), [{"event_id": event.id, "event_hash": event.hash}])
    head = {"head_seq": event.seq, "head_hash": event.hash}
    session.execute(update(_CYLINDERS).where(_CYLINDERS.c.id == event.cylinder_id).values(head))


def _sign(
    actor: Actor, authority: Authority, fields: EventFields, signature: bytes | None
) -> tuple[EventFields, bytes]:
    """Use the device's own signature when it sent one, else the server's."""
    if signature is None:
        signed = replace(fields, key_id=authority.server_key_id)
        return signed, authority.server.sign(signing_message(signed))
    if actor.public_key is None:
        raise Invalid("this actor has no registered device key to sign with")
    signed = replace(fields, key_id=device_key_id(actor.public_key))
    if not verify_ed25519(actor.public_key, signing_message(signed), signature):
        raise Invalid("the event signature does not verify with the actor's device key")
    return signed, signature
