"""What a station caches to decide offline with the same rules (issue 4's offline mode)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

from sqlalchemy import or_, select
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


def snapshot(
    session: Session,
    authority: Authority,
    station_id: int,
    now: dt.datetime,
    params: Jurisdiction,
    since: dt.datetime | None = None,
) -> dict[str, Any]:
    """The station's cache: its enterprise's cylinders (those with an event recorded
    ``since``, and those transferred away since), the deny list,
    the registry key that signs codes, every enterprise's licences, and the parameters."""
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
    return {
        "generated_at": now.isoformat(),
        "station": station.to_dict(),
        "enterprises": enterprises,
        "jurisdiction": params.to_dict(),
        "registry_key": base64.b64encode(public_bytes(authority.registry)).decode(),
        "cylinders": [json.loads(text) for text in session.execute(own).scalars()],
        "deny": sorted(session.execute(deny).scalars()),
        "retired_codes": sorted(retired),
        # Which cylinder each retired code named: a station that blocked a retired label
        # offline records the attempt on that cylinder's chain when it reconnects.
        "retired_cylinders": retired,
    }
