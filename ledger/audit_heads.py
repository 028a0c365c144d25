"""The audit's check of the registry's chain heads (FORMAT §2): every cylinder row's
(``head_seq``, ``head_hash``) is its last event's (seq, hash), and (0, any) when it has none.

Both halves are compared: a head reset to 0 (or emptied) while events remain, or one whose
seq runs past the last event while its hash was kept, is as wrong as a changed hash; the
next append would link to the wrong place or fork the chain.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlmodel import Session, col

from ledger.audit_report import AuditReport
from ledger.model import Cylinder, Event


def audit_heads(session: Session, report: AuditReport, order: dict[str, int]) -> None:
    """Report every cylinder whose chain head is not its last stored event."""
    last = (
        select(col(Event.cylinder_id), func.max(col(Event.seq)).label("seq"))
        .group_by(col(Event.cylinder_id))
        .subquery()
    )
    rows = session.execute(
        select(
            col(Cylinder.id),
            col(Cylinder.code),
            col(Cylinder.head_seq),
            col(Cylinder.head_hash),
            last.c.seq,
            col(Event.hash),
            col(Event.id),
        )
        .outerjoin(last, last.c.cylinder_id == col(Cylinder.id))
        .outerjoin(
            Event, (col(Event.cylinder_id) == col(Cylinder.id)) & (col(Event.seq) == last.c.seq)
        )
    )
    late = len(order) + 1
    for cyl_id, code, head_seq, head_hash, last_seq, last_hash, last_id in rows:
        if last_seq is None:  # no events: the head must be empty
            if not head_seq:
                continue
        elif head_seq == last_seq and head_hash == last_hash:
            continue
        here = f"cylinder {code} ({cyl_id}): its chain head (#{head_seq or 0})"
        if last_seq is not None and head_hash == last_hash:  # the right event, the wrong seq
            why = f"names its last event {last_id} but not its seq #{last_seq} (it was edited)"
        else:
            why = "is not its last stored event (the last event was removed or its hash changed)"
        report.add(order.get(last_id, late) if last_id else late, f"{here} {why}", structural=True)
