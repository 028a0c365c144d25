"""Where each event id lives: one look-up, however many months ``events`` spans.

On PostgreSQL ``events`` is partitioned by month of ``recorded_at`` (migration 0006), so
its key is (id, recorded_at) and a look-up by id alone probes every month's index. The
plain table ``event_ids (id PRIMARY KEY, recorded_at)`` (migration 0012) is filled by a
trigger on every insert into ``events``, COPY included: one probe of its key finds the
month, then the event is read from that one partition. Its key also keeps an event id
unique across months, which the partitioned table alone cannot.

SQLite keeps one plain ``events`` table keyed by id: a look-up by id is one probe already.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import select
from sqlmodel import Session, col

from ledger.model import Event, UTCDateTime

EVENT_IDS = sa.table(
    "event_ids",
    sa.column("id", sa.String(36)),
    sa.column("recorded_at", UTCDateTime(timezone=True)),
)
_EVENTS = sa.table(
    "events",
    sa.column("id", sa.String(36)),
    sa.column("recorded_at", UTCDateTime(timezone=True)),
)


def recorded_at_by_id(dialect: str) -> sa.TableClause:
    """The table that gives an event's ``recorded_at`` by its id in one probe, with both
    columns: ``event_ids`` on PostgreSQL, ``events`` itself on SQLite."""
    return EVENT_IDS if dialect == "postgresql" else _EVENTS


def stored_event(session: Session, event_id: str) -> Event | None:
    """The event stored under ``event_id``, or None."""
    by_id = select(Event).where(col(Event.id) == event_id)
    if session.get_bind().dialect.name == "postgresql":
        month = select(EVENT_IDS.c.recorded_at).where(EVENT_IDS.c.id == event_id)
        recorded_at = session.execute(month).scalar_one_or_none()
        if recorded_at is None:
            return None
        found = session.execute(by_id.where(col(Event.recorded_at) == recorded_at)).scalars()
        event: Event | None = found.first()
        if event is not None:
            return event
        # event_ids out of step with events (a hand repair changed the event's recorded_at):
        # the event is still found, at the cost of every month's probe.
    event = session.execute(by_id).scalars().first()
    return event
