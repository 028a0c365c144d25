"""What a station caches to decide offline with the same rules (issue 4's offline mode).

The cache of an enterprise with 85k cylinders is a 62 MB document, almost all of it the
cylinders' states. Those are stored as JSON texts (``cylinder_states.state``), so they are
written out as stored, never parsed and encoded again, and read in batches from a cursor
(``state_batches``): ``document`` yields the document in pieces, and a process serving it
never holds it whole. ``snapshot`` is the same document in memory, parsed.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, or_, select
from sqlmodel import Session, col

from ledger import facts_db
from ledger.authority import Authority
from ledger.errors import NotFound
from ledger.facts import EnterpriseView
from ledger.keys import public_bytes
from ledger.model import Cylinder, Enterprise, Event
from ledger.model_rules import CylinderStateRow, RetiredCode
from ledger.params import Jurisdiction

DENY_STATUSES = ("scrapped", "condemned")
SYNC_OVERLAP = dt.timedelta(minutes=1)
BATCH = 500  # states read per fetch: ~370 KB of JSON at ~730 bytes a state


@dataclass(frozen=True)
class Prepared:
    """A station's cache before its cylinders are read: every other key of the document
    (``rest``), and the statement that selects the stored JSON text of each cylinder."""

    rest: dict[str, Any]
    cylinders: Select[Any]


def prepare(
    session: Session,
    authority: Authority,
    station_id: int,
    now: dt.datetime,
    params: Jurisdiction,
    since: dt.datetime | None = None,
) -> Prepared:
    """The station's cache but its cylinders: the deny list, the registry key that signs
    codes, every enterprise's licences, and the parameters; and which cylinders it holds:
    its enterprise's (those with an event recorded ``since``, and those transferred away
    since)."""
    station = facts_db.station(session, station_id)
    if station is None:
        raise NotFound(f"no station {station_id}")
    s = CylinderStateRow
    mine = col(s.owner_id) == station.enterprise_id
    own = select(col(s.state)).where(mine)
    if since is not None:
        # Changed since by the server's record time, not the events' claimed time: a
        # backdated event (an offline record, an inspection entered late) still counts; a
        # minute's overlap covers a write recorded before ``since`` but committed after.
        recorded = select(col(Event.cylinder_id)).where(
            col(Event.recorded_at) > since - SYNC_OVERLAP
        )
        moved = recorded.where(col(Event.type) == "ownership_transferred")
        # A cylinder transferred away comes too, under its new owner, so that the station
        # stops filling it (NOT_OWNED) instead of keeping its old row until a full sync.
        own = select(col(s.state)).where(
            col(s.cylinder_id).in_(recorded), or_(mine, col(s.cylinder_id).in_(moved))
        )
    deny = (
        select(col(Cylinder.code))
        .join(CylinderStateRow, col(CylinderStateRow.cylinder_id) == col(Cylinder.id))
        .where(
            col(CylinderStateRow.status).in_(DENY_STATUSES),
            col(CylinderStateRow.owner_id) != station.enterprise_id,
        )
    )
    rows = session.execute(
        select(col(Enterprise.id), col(Enterprise.name), col(Enterprise.blacklisted))
    ).all()
    known = facts_db.licences(session, [row[0] for row in rows])  # one query for them all
    enterprises = {
        str(i): EnterpriseView(i, name, blacklisted, facts_db.gas_licences(known[i])).to_dict()
        for i, name, blacklisted in rows
    }
    retired_rows = session.execute(select(col(RetiredCode.code), col(RetiredCode.cylinder_id)))
    retired: dict[str, str] = {code: cylinder for code, cylinder in retired_rows}
    rest = {
        "generated_at": now.isoformat(),
        "station": station.to_dict(),
        "enterprises": enterprises,
        "jurisdiction": params.to_dict(),
        "registry_key": base64.b64encode(public_bytes(authority.registry)).decode(),
        "deny": sorted(session.execute(deny).scalars()),
        "retired_codes": sorted(retired),
        # Which cylinder each retired code named: a station that blocked a retired label
        # offline records the attempt on that cylinder's chain when it reconnects.
        "retired_cylinders": retired,
    }
    return Prepared(rest, own)


def snapshot(
    session: Session,
    authority: Authority,
    station_id: int,
    now: dt.datetime,
    params: Jurisdiction,
    since: dt.datetime | None = None,
) -> dict[str, Any]:
    """The station's whole cache in memory, every state parsed (``prepare``'s keys and
    ``cylinders``): what ``document`` writes out, as a value."""
    prepared = prepare(session, authority, station_id, now, params, since)
    texts = session.execute(prepared.cylinders).scalars()
    return {**prepared.rest, "cylinders": [json.loads(text) for text in texts]}


def state_batches(
    session: Session, statement: Select[Any], size: int = BATCH
) -> Generator[list[str]]:
    """The stored JSON texts the statement selects, ``size`` at a time, from a cursor that
    PostgreSQL keeps on its side (a named cursor: the session must be in a transaction).
    Close the generator before the session."""
    result = session.execute(statement.execution_options(yield_per=size))
    try:
        for batch in result.scalars().partitions():
            yield list(batch)
    finally:
        # Closed here, on its connection, before the session gives that back: closing the
        # generator (a body never read whole) closes the cursor. A connection that died
        # cannot close it: the error that killed the read is the one that matters.
        with contextlib.suppress(Exception):
            result.close()


def document(
    rest: dict[str, Any], batches: Iterable[list[str]], dumps: Callable[[Any], str]
) -> Iterator[str]:
    """The cache as JSON text in pieces, one per batch: ``{"cylinders":[`` and the stored
    states as they are, then ``rest`` encoded by ``dumps``, then a newline.

    The closing brace comes only once every batch was read: a stream cut short by a
    failing read is never a valid document, so a station never takes it for a cache.
    """
    yield '{"cylinders":['
    first = True
    for batch in batches:
        if batch:
            yield ("" if first else ",") + ",".join(batch)
            first = False
    tail = dumps(rest)
    if tail == "{}":
        yield "]}\n"
        return
    # rest's keys all sort after "cylinders", as the whole document's did when encoded
    # with sorted keys: the same text but for the spaces inside each stored state.
    yield "]," + tail.removeprefix("{") + "\n"
