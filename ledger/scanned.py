"""What a scanned code names, read for a fill check: its cylinder, chain head, state and owner.

One round trip for all of it (``resolve``); a blocking check reads it again with the head
locked (``lock``) before it writes on the chain.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, replace

from sqlalchemy import ColumnElement, Executable, bindparam, select
from sqlmodel import Session

from ledger import writer
from ledger.model import Cylinder, Enterprise, Event
from ledger.model_rules import CylinderStateRow, RetiredCode
from ledger.params import Jurisdiction
from ledger.service import current_state
from ledger.state import CylinderState

_CYLINDERS = Cylinder.__table__  # type: ignore[attr-defined]
_ENTERPRISES = Enterprise.__table__  # type: ignore[attr-defined]
_STATES = CylinderStateRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Found:
    """What a scanned code names, as read: its cylinder, state and chain head (a retired
    code names its cylinder, but is no longer its code)."""

    cylinder_id: str | None = None
    state: CylinderState | None = None
    head: writer.ChainHead | None = None
    registered_at: dt.datetime | None = None
    retired: bool = False
    owner: tuple[int, str, bool] | None = None  # the owner's registry row, read with the head

    @property
    def seq(self) -> int | None:
        """The position of the chain's head when it was read."""
        return None if self.head is None else self.head.head_seq


def _head_and_state(where: ColumnElement[bool], *, lock: bool) -> Executable:
    """The cylinder's chain head and projected state in one round trip; an allowing check
    only reads it, a blocking one reads it again under the head's row lock."""
    c, e = _CYLINDERS.c, _ENTERPRISES.c
    query = (
        select(c.id, c.owner_id, c.head_seq, c.head_hash, c.registered_at, _STATES.c.state)
        .add_columns(e.id, e.name, e.blacklisted)  # the owner: no second look-up
        .select_from(
            _CYLINDERS.outerjoin(_STATES, _STATES.c.cylinder_id == c.id).outerjoin(
                _ENTERPRISES, e.id == c.owner_id
            )
        )
        .where(where)
    )
    return query.with_for_update(of=_CYLINDERS) if lock else query


_BY_CODE = _head_and_state(_CYLINDERS.c.code == bindparam("key"), lock=False)
_BY_ID_LOCKED = _head_and_state(_CYLINDERS.c.id == bindparam("key"), lock=True)


def resolve(session: Session, code: str, params: Jurisdiction) -> Found:
    """What a scanned code names, read without locks."""
    found = _read(session, _BY_CODE, code, params)
    if found.head is not None:
        return found
    retired = session.get(RetiredCode, code)
    if retired is None:
        return Found()
    state = current_state(session, retired.cylinder_id, params)
    return Found(retired.cylinder_id, state, retired=True)


def lock(session: Session, found: Found, params: Jurisdiction) -> Found:
    """``found`` read again with its cylinder's head locked.

    When the locked head is the one read, nothing moved: ``found`` is what is locked (the
    state is projected in the transaction that moves the head), and the lock cost one
    statement. Else the state and the owner are read after the lock, by statements of
    their own: a statement that waited for the lock sees the locked row as it is now, but
    the rows it joined as they were when it began (PostgreSQL, READ COMMITTED), so a state
    joined to the head could be older than the head it is written on.
    """
    assert found.cylinder_id is not None
    head = writer.lock_head_by_id(session, found.cylinder_id)
    if found.head is not None and head == found.head:
        return found
    locked = _read(session, _BY_ID_LOCKED, found.cylinder_id, params)
    if locked.head is None:
        return replace(locked, retired=found.retired)
    state = current_state(session, locked.head.id, params)
    return replace(locked, state=state, owner=None, retired=found.retired)


def _read(session: Session, query: Executable, key: str, params: Jurisdiction) -> Found:
    row = session.connection().execute(query, {"key": key}).first()
    if row is None:
        return Found()
    head = writer.ChainHead(*row[:5])
    state = (
        CylinderState.from_dict(json.loads(row[5]))
        if row[5] is not None
        else current_state(session, head.id, params)
    )
    owner = None if row[6] is None else (row[6], row[7], row[8])
    return Found(head.id, state, head, row[4], owner=owner)


def moved(found: Found, event: Event, after: CylinderState) -> Found:
    """``found`` once a ``fill_blocked`` event is on its chain."""
    assert found.head is not None
    head = found.head._replace(head_seq=event.seq, head_hash=event.hash)
    return replace(found, state=after, head=head)
