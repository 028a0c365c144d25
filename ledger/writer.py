"""Writing one event: lock the chain head, sign, hash, store, queue for the log.

This is the hot path of every scan at the nozzle, so it speaks SQL core, not the ORM.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, NamedTuple

from sqlalchemy import bindparam, event, insert, select, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.expression import ColumnElement, Executable
from sqlmodel import Session

from ledger.authority import Authority, ensure_server_key
from ledger.chain import seal
from ledger.errors import Invalid, NotFound, unknown_code
from ledger.events import ZERO_HASH, EventFields, payload_text, signing_message
from ledger.keys import device_key_id, verify_ed25519
from ledger.model import Actor, Cylinder, Event, LogPending
from ledger.model_rules import RetiredCode

_SITE_EVENTS = ("delivered", "returned", "delivery_blocked")


class ChainHead(NamedTuple):
    """What an append needs of its cylinder: identity, owner and the head of its chain."""

    id: str
    owner_id: int
    head_seq: int
    head_hash: bytes
    registered_at: dt.datetime | None = None


def lock_head(session: Session, code: str) -> ChainHead:
    """Lock the cylinder's row (PostgreSQL) and read its chain head: appends never fork."""
    return _lock(session, _LOCK_BY_CODE, code, unknown_code(code).detail)


def lock_head_for(session: Session, code: str, event_type: str) -> ChainHead:
    """``lock_head`` of the chain an event on ``code`` goes on. A code retired by
    relabelling names no cylinder any more, except for a station's record of a fill it
    blocked on that old label (evidence of the attempt): that goes on the cylinder's chain.
    """
    try:
        return lock_head(session, code)
    except NotFound:
        retired = session.get(RetiredCode, code) if event_type == "fill_blocked" else None
        if retired is None:
            raise
        return lock_head_by_id(session, retired.cylinder_id)


def lock_head_by_id(session: Session, cylinder_id: str) -> ChainHead:
    """``lock_head`` by the cylinder's UUID (a retired code still names its cylinder)."""
    return _lock(session, _LOCK_BY_ID, cylinder_id, f"no cylinder {cylinder_id}")


def _lock(session: Session, query: Executable, key: str, missing: str) -> ChainHead:
    row = session.connection().execute(query, {"key": key}).first()
    if row is None:
        raise NotFound(missing)
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
    if signature is None:
        _register_server_key(session, authority)
    event = seal_event(
        authority, actor, cylinder, event_type, payload, occurred_at, now, event_id, signature
    )
    _write(session, event)
    if isinstance(cylinder, Cylinder):  # a loaded row: keep it in step without an UPDATE
        set_committed_value(cylinder, "head_seq", event.seq)
        set_committed_value(cylinder, "head_hash", event.hash)
    return event


def store_sealed(session: Session, authority: Authority, event: Event) -> None:
    """Store a server-signed event that ``seal_event`` made on a head the caller has since
    locked and found unmoved (the signing and hashing were done before the lock)."""
    _register_server_key(session, authority)
    _write(session, event)


def seal_event(
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
    """The event that ``append`` stores, signed and hashed on ``cylinder``'s head: not
    written (the caller writes it, on that head only, and has the server key on record)."""
    assert actor.id is not None
    station = payload.get("station_id") if event_type in ("filled", "fill_blocked") else None
    site = payload.get("customer_id") if event_type in _SITE_EVENTS else None
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
    return seal(fields, signature, seq=cylinder.head_seq + 1, payload_text=fields.payload_json)


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


def _lock_statement(column: ColumnElement[str]) -> Executable:
    c = _CYLINDERS.c
    return (
        select(c.id, c.owner_id, c.head_seq, c.head_hash, c.registered_at)
        .where(column == bindparam("key"))
        .with_for_update()
    )


_LOCK_BY_CODE = _lock_statement(_CYLINDERS.c.code)
_LOCK_BY_ID = _lock_statement(_CYLINDERS.c.id)
_INSERT_EVENT = insert(_EVENTS)
_INSERT_PENDING = insert(_PENDING)
_MOVE_HEAD = update(_CYLINDERS).where(_CYLINDERS.c.id == bindparam("key"))


def _write(session: Session, event: Event) -> None:
    """Store the event, queue it for the log and move the chain head: core statements, since
    this is the hot path of every scan and the ORM's unit of work costs more than the I/O."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(_PG_APPEND, {f"e_{c}": getattr(event, c) for c in _EVENT_COLUMNS})
        return
    conn.execute(_INSERT_EVENT, {c: getattr(event, c) for c in _EVENT_COLUMNS})
    conn.execute(_INSERT_PENDING, {"event_id": event.id, "event_hash": event.hash})
    head = {"head_seq": event.seq, "head_hash": event.hash, "key": event.cylinder_id}
    conn.execute(_MOVE_HEAD, head)


_REGISTERED: set[tuple[str, str]] = set()  # (database, key id) known to be in signing_keys


def server_key_on_record(session: Session, authority: Authority) -> bool:
    """Whether this process has seen the server key committed in this database."""
    return (str(session.connection().engine.url), authority.server_key_id) in _REGISTERED


def _register_server_key(session: Session, authority: Authority) -> None:
    """Make sure the key the server signs with is on record, once per process and database:
    after a key rotation the new key's events must verify (the audit looks keys up there)."""
    marker = (str(session.connection().engine.url), authority.server_key_id)
    in_this_transaction = session.info.setdefault("server_keys_ensured", set())
    if marker in _REGISTERED or marker in in_this_transaction:
        return
    ensure_server_key(session, authority)
    # Remembered for the process once it is committed (a rolled-back registration must be
    # redone); until then for this transaction, so a long one (the demo's year) asks once.
    in_this_transaction.add(marker)
    event.listen(session, "after_commit", lambda _s: _REGISTERED.add(marker), once=True)
    event.listen(session, "after_soft_rollback", lambda _s, _t: in_this_transaction.clear())


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
