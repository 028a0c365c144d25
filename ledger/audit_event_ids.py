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
    for event_id, recorded_at in found.unregistered.items():
        if event_id in found.twice:
            continue
        registered = found.unmatched.get(event_id)
        if registered is not None:
            why = (
                f"registered in event_ids at {registered.isoformat()} but stored at "
                f"{recorded_at.isoformat()} (its recorded_at was changed by hand)"
            )
        else:
            why = f"not in event_ids (stored while its registering trigger was off): {REPAIR}"
        report.event_ids.append(f"event {event_id}: 未登记 {why}")
    for event_id, recorded_at in found.unmatched.items():
        if event_id not in found.unregistered:
            report.event_ids.append(
                f"event_ids {event_id} ({recorded_at.isoformat()}): 无此事件 names no "
                "stored event (an event was deleted, or the row was added by hand)"
            )
    if found.capped:
        report.event_ids.append(
            f"… 更多未列出 more of a kind than the {LISTED} listed: {REPAIR}, then audit again"
        )
