"""Recording a refused fill check: its ``fill_blocked`` event, the state after it, the check.

The event is ``sealed`` (signed and hashed) on the head as read, before any lock; then
stored one of two ways, with the same records. ``on_locked_head`` stores it on the chain
head the caller has locked, in the caller's transaction (SQLite; or when the chain moved
under a first read, sealed again on the locked head).
``at_once`` is PostgreSQL's fast path: the event, its log queue entry, the chain head, the
projected state and the ``fill_checks`` row in one statement, guarded by the head it was
decided on (compare and swap): if the chain moved since it was read, the statement writes
nothing and the caller decides again under the lock. On the autocommit connection beside a
transaction (``store.reads_beside``) the statement is a transaction of its own: one round
trip instead of BEGIN, a lock, four writes and COMMIT. The refused check is the one that
writes, and the one the nozzle waits for.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Executable, bindparam, cast, func, insert, select, update
from sqlmodel import Session

from ledger import projection, writer
from ledger.authority import Authority
from ledger.event_ids import stored_event
from ledger.ids import idempotent_id, new_id
from ledger.model import Actor, Cylinder, Event, LogPending
from ledger.model_rules import CylinderStateRow, FillCheck
from ledger.params import Jurisdiction
from ledger.state import CylinderState, apply

_EVENTS = Event.__table__  # type: ignore[attr-defined]
_PENDING = LogPending.__table__  # type: ignore[attr-defined]
_CYLINDERS = Cylinder.__table__  # type: ignore[attr-defined]
_STATES = CylinderStateRow.__table__  # type: ignore[attr-defined]
_CHECKS = FillCheck.__table__  # type: ignore[attr-defined]
_EVENT_COLUMNS = tuple(Event.model_fields)
_CHECK_COLUMNS = tuple(FillCheck.model_fields)
_STATE_COLUMNS = ("status", "seq", "next_inspection_due", "end_of_life", "last_event_at", "state")

Written = tuple[Event, CylinderState]  # the fill_blocked event and the state after it


def sealed(
    authority: Authority,
    actor: Actor,
    head: writer.ChainHead,
    state: CylinderState,
    payload: Mapping[str, Any],
    now: dt.datetime,
    params: Jurisdiction,
) -> Written:
    """The ``fill_blocked`` event signed and hashed on ``head``, and the state after it:
    nothing written. Made before any lock is taken, it is what ``on_locked_head`` stores
    when the locked head is still ``head``, and what ``at_once`` writes."""
    event = writer.seal_event(
        authority, actor, head, "fill_blocked", payload, now, now, new_id(), None
    )
    return event, apply(state, projection.view(event), params.fill_tolerance_kg)


def on_locked_head(
    session: Session,
    authority: Authority,
    head: writer.ChainHead,
    made: Written,
    params: Jurisdiction,
) -> None:
    """Store ``made`` (``sealed`` on ``head``) on that head, locked in ``session``, and its
    projected state (the ``fill_checks`` row is the caller's)."""
    event, after = made
    assert (event.cylinder_id, event.seq, event.prev_hash) == (
        head.id, head.head_seq + 1, head.head_hash
    ), "sealed on another head"  # fmt: skip
    writer.store_sealed(session, authority, event)
    projection.save(session, after, params, new=False)


def at_once(
    where: Session,
    authority: Authority,
    head: writer.ChainHead,
    made: Written,
    params: Jurisdiction,
    check: dict[str, Any],
) -> bool:
    """Everything a refused check records, in one PostgreSQL statement in ``where`` (a
    transaction, or the autocommit session beside one), on the condition that the chain's
    head is still ``head``: ``made`` (``sealed`` on it), its state and the ``fill_checks``
    row ``check`` (its ``event_id`` filled in here).

    False, with nothing written, when the head moved on (or on SQLite, or when this process
    has not yet seen the server key on record, which ``on_locked_head`` registers): the
    caller then takes the locked way.
    """
    conn = where.connection()
    if conn.dialect.name != "postgresql" or not writer.server_key_on_record(where, authority):
        return False
    event, after = made
    row = projection.state_row(after, params)
    values = {f"e_{c}": getattr(event, c) for c in _EVENT_COLUMNS}
    values.update({f"s_{c}": row[c] for c in _STATE_COLUMNS})
    values.update({f"c_{c}": v for c, v in {**check, "event_id": event.id}.items()})
    values["prev_seq"] = head.head_seq
    return bool(conn.execute(_AT_ONCE, values).scalar_one())


def _typed(table: Any, prefix: str, columns: tuple[str, ...]) -> list[Any]:
    """Bind parameters cast to their columns' types (an INSERT … SELECT infers none)."""
    return [cast(bindparam(f"{prefix}{c}"), table.c[c].type).label(c) for c in columns]


def _at_once_statement() -> Executable:
    """The statement of ``at_once``, built once: every write hangs on ``moved``, the chain
    head moved from the expected position, so nothing is written when it had moved on."""
    c = _CYLINDERS.c
    moved = (
        update(_CYLINDERS)
        .where(c.id == bindparam("e_cylinder_id"), c.head_seq == bindparam("prev_seq"))
        .values(head_seq=bindparam("e_seq"), head_hash=bindparam("e_hash"))
        .returning(c.id)
        .cte("moved")
    )
    event = select(*_typed(_EVENTS, "e_", _EVENT_COLUMNS)).select_from(moved)
    ins = (
        insert(_EVENTS)
        .from_select(list(_EVENT_COLUMNS), event)
        .returning(_EVENTS.c.id, _EVENTS.c.hash)
        .cte("ins")
    )
    queued = insert(_PENDING).from_select(["event_id", "event_hash"], select(ins)).cte("queued")
    projected = (
        update(_STATES)
        .where(_STATES.c.cylinder_id.in_(select(moved.c.id)))
        .values({s: bindparam(f"s_{s}") for s in _STATE_COLUMNS})
        .cte("projected")
    )
    # The check's row hangs on ``moved`` too, by a WHERE: it selects from no table.
    checked = (
        insert(_CHECKS)
        .from_select(
            list(_CHECK_COLUMNS),
            select(*_typed(_CHECKS, "c_", _CHECK_COLUMNS)).where(select(moved.c.id).exists()),
        )
        .cte("checked")
    )
    return (
        select(func.count())
        .select_from(moved)
        .add_cte(ins)
        .add_cte(queued)
        .add_cte(projected)
        .add_cte(checked)
    )


_AT_ONCE = _at_once_statement()


def recorded_for_check(
    session: Session, actor: Actor, cylinder_id: str, payload: Mapping[str, Any]
) -> Event | None:
    """The ``fill_blocked`` event the server already recorded for the check an offline
    block names (``check_key``: the check's Idempotency-Key), when that check blocked this
    cylinder for this actor. A station whose check timed out after the server had decided
    blocks offline, and queues the same attempt again: it is recorded once."""
    key = payload.get("check_key")
    if key is None or not payload.get("offline"):
        return None
    check = session.get(FillCheck, idempotent_id(actor, key))
    if check is None or check.event_id is None:
        return None
    if check.actor_id != actor.id or check.cylinder_id != cylinder_id:
        return None
    return stored_event(session, check.event_id)
