"""The audit's check of ``event_ids`` against ``events`` (PostgreSQL, ``ledger.event_ids``).

An id stored by two events is a problem of the ledger itself: an event id names one event.
A registration out of step is a finding of the lesser kind, like the state projection's:
``event_ids`` is derived from the events (which are not affected), but an event it does not
name is not found by its id, so a retry of that id would record the event a second time.
"""

from __future__ import annotations

from sqlmodel import Session

from ledger import event_ids
from ledger.audit_report import AuditReport

REPAIR = "flask --app wsgi ledger register-event-ids"
LISTED = 1000  # of each kind; a ledger whose trigger was off for long has millions


def audit_event_ids(session: Session, report: AuditReport, order: dict[str, int]) -> None:
    """Report ids stored twice as problems, registrations out of step as findings."""
    if not event_ids.kept(session):
        return
    found = event_ids.drift(session, LISTED)
    late = len(order) + 1
    for event_id, count in found.twice.items():
        report.add(
            order.get(event_id, late),
            f"event {event_id}: 事件编号重复 its id is stored by {count} events "
            "(an event id names one event; one was copied or inserted by hand)",
        )
    listed = report.event_ids
    for event_id in found.unregistered:
        listed.append(
            f"event {event_id}: 未登记 not in event_ids (stored while its registering trigger "
            f"was off): {REPAIR}"
        )
    for event_id, (registered, stored) in found.moved.items():
        listed.append(
            f"event {event_id}: 登记时间不符 registered in event_ids at {registered.isoformat()} "
            f"but stored at {stored.isoformat()} (a recorded_at was changed by hand)"
        )
    for event_id, recorded_at in found.unmatched.items():
        listed.append(
            f"event_ids {event_id} ({recorded_at.isoformat()}): 无此事件 names no stored "
            "event (an event was deleted, or the row was added by hand)"
        )
    kinds = ("unregistered", "moved", "unmatched")
    report.event_ids_unlisted += sum(found.counts[k] for k in kinds) - len(listed)
