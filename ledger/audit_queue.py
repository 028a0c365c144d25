"""The audit's check of the sequencer's queue, ``log_pending``: what the next integration
would put in the log.

An entry must name an event that is not a leaf yet (integrating it again would log the
event twice) and carry that event's hash (the integrator reads the copy in the queue, not
the event: a changed copy would log a hash no event has). An event whose own checks already
failed is named there; its queue entry is not named a second time.
"""

from __future__ import annotations

from collections.abc import Container

from sqlalchemy import select
from sqlmodel import Session, col

from ledger.audit_report import AuditReport
from ledger.model import Event, LogLeaf, LogPending


def audit_queue(
    session: Session, report: AuditReport, order: dict[str, int], reported: Container[str]
) -> None:
    """Report each queue entry of an integrated event or with another hash than its event's."""
    query = (
        select(
            col(LogPending.event_id),
            col(LogPending.event_hash),
            col(Event.hash),
            col(LogLeaf.leaf_index),
        )
        .outerjoin(Event, col(Event.id) == col(LogPending.event_id))
        .outerjoin(LogLeaf, col(LogLeaf.event_id) == col(LogPending.event_id))
        .order_by(col(LogPending.seq))
    )
    late = len(order) + 1
    result = session.execute(query.execution_options(yield_per=10_000))
    try:
        for event_id, queued_hash, event_hash, leaf_index in result:
            if leaf_index is not None:
                report.add(
                    leaf_index,
                    f"日志队列有误 log_pending entry of event {event_id} is already leaf "
                    f"{leaf_index} (integrating it again would log the event twice)",
                    structural=True,
                )
            elif event_hash is not None and queued_hash != event_hash:
                if event_id in reported:
                    continue
                report.add(
                    late,
                    f"日志队列有误 log_pending entry of event {event_id}: its hash differs from "
                    "the event's stored hash (integrating it would log a hash no event has)",
                    structural=True,
                )
    finally:
        result.close()
