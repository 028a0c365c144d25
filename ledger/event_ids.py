"""Where each event id lives: one look-up, however many months ``events`` spans.

On PostgreSQL ``events`` is partitioned by month of ``recorded_at`` (migration 0006), so
its key is (id, recorded_at) and a look-up by id alone probes every month's index. The
plain table ``event_ids (id PRIMARY KEY, recorded_at)`` (migration 0012) is filled by a
trigger on every insert into ``events``, COPY included: one probe of its key finds the
month, then the event is read from that one partition. Its key also keeps an event id
unique across months, which the partitioned table alone cannot.

SQLite keeps one plain ``events`` table keyed by id: a look-up by id is one probe already.

A repair with the registering trigger off (``DISABLE TRIGGER ALL``, a ``replica`` session)
leaves events unregistered, and a retry of such an event's id would record it again:
``drift`` finds that (``ledger audit`` reports it), ``register_missing`` mends it
(``flask --app wsgi ledger register-event-ids``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

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


def kept(session: Session) -> bool:
    """Whether this database keeps ``event_ids`` (PostgreSQL, migration 0012 or later; a
    regulator may audit a copy made before it)."""
    if session.get_bind().dialect.name != "postgresql":
        return False
    return session.execute(sa.text("SELECT to_regclass('event_ids')")).scalar() is not None


@dataclass(frozen=True)
class Drift:
    """Where ``event_ids`` and ``events`` disagree (``drift``), each case under one kind
    only; at most the limit of each kind is listed, ``counts`` has them all."""

    twice: dict[str, int]  # an id → how many events carry it (two months' partitions)
    unregistered: dict[str, dt.datetime]  # an event → its recorded_at; its id has no row
    moved: dict[str, tuple[dt.datetime, dt.datetime]]  # an event → (registered, stored) at
    unmatched: dict[str, dt.datetime]  # a row → its recorded_at; no event has its id
    counts: dict[str, int]  # each kind's name → how many in all

    def __bool__(self) -> bool:
        return any(self.counts.values())


_MOVED = (  # joined first, then each (rare) row's id checked against the other events
    "SELECT e.id, i.recorded_at AS registered_at, e.recorded_at FROM events e "
    "JOIN event_ids i ON i.id = e.id WHERE i.recorded_at <> e.recorded_at"
)
KINDS = {  # an id stored twice is that only: the others count events alone under their id
    "unregistered": (  # grouped, not probed row by row: a bulk load's worth stays fast
        "SELECT e.id, min(e.recorded_at) AS recorded_at FROM events e WHERE NOT EXISTS "
        "(SELECT 1 FROM event_ids i WHERE i.id = e.id) GROUP BY e.id HAVING count(*) = 1 "
        "ORDER BY 2, 1"
    ),
    "moved": (
        f"WITH m AS MATERIALIZED ({_MOVED}) SELECT id, registered_at, recorded_at FROM m "
        "WHERE NOT EXISTS (SELECT 1 FROM events o WHERE o.id = m.id "
        "AND o.recorded_at <> m.recorded_at) ORDER BY recorded_at, id"
    ),
    "unmatched": (
        "SELECT i.id, i.recorded_at FROM event_ids i WHERE NOT EXISTS (SELECT 1 FROM events e "
        "WHERE e.id = i.id) ORDER BY i.recorded_at, i.id"
    ),
    "twice": "SELECT id, count(*) AS n FROM events GROUP BY id HAVING count(*) > 1 ORDER BY id",
}
_TIMES = {name: UTCDateTime(timezone=True) for name in ("recorded_at", "registered_at")}
_SIZES = "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM event_ids)"


def drift(session: Session, limit: int = 1000) -> Drift:
    """Compare ``event_ids`` with ``events`` (scans of both; ``kept`` first): the earliest
    ``limit`` of each kind, and how many of each there are.

    No id is stored twice when every registration names an event and the two tables hold
    as many rows (then each event has an id of its own): that costly grouping is skipped.
    """
    listed: dict[str, dict[str, Any]] = {}
    counts: dict[str, int] = {}
    for kind, sql in KINDS.items():
        if kind == "twice" and not counts["unmatched"]:
            events, registered = session.execute(sa.text(_SIZES)).one()
            if events == registered:
                listed[kind], counts[kind] = {}, 0
                continue
        query = sa.text(f"{sql} LIMIT :n").columns(**_TIMES)
        found = session.execute(query, {"n": limit + 1}).all()
        listed[kind] = {
            row[0]: row[1] if len(row) == 2 else tuple(row[1:]) for row in found[:limit]
        }
        counts[kind] = len(found)
        if len(found) > limit:  # all of them counted, only when there are more than listed
            counted = sa.text(f"SELECT count(*) FROM ({sql}) AS q")
            counts[kind] = session.execute(counted).scalar_one()
    return Drift(**listed, counts=counts)


LOCK_WAIT = "10s"  # behind a long transaction on events: give up rather than stall appends


def register_missing(session: Session) -> int:
    """Register every event whose id has no registration at all (what a repair with the
    registering trigger off left out); how many. Appends wait meanwhile (a lock on
    ``events`` that also keeps a second run out, given up after ``LOCK_WAIT``). An id stored
    twice, or registered at another ``recorded_at``, is left for a hand repair: which row
    is right is not this function's to guess."""
    session.execute(sa.text(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'"))
    session.execute(sa.text("LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE"))
    unregistered = KINDS["unregistered"]  # what the audit reports as such, all of it
    added = session.execute(
        sa.text(
            f"INSERT INTO event_ids (id, recorded_at) SELECT id, recorded_at "
            f"FROM ({unregistered}) AS q ON CONFLICT (id) DO NOTHING"
        )
    )
    return int(added.rowcount)  # type: ignore[attr-defined]
