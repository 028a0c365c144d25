"""The regulator's unregistered-code scans are read from their partial index (migration
0014) on PostgreSQL: the count and the page of the last 30 days read the period's
unregistered scans, not every check of the period."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import text

from ledger import oversight
from ledger.store import transaction
from ledger.unknown_scans import count_unknown_scans, unknown_scans_listing
from tests import flows


def test_the_count_and_the_page_read_the_partial_index(app: Any, client: Any, demo: Any) -> None:
    for n in range(3):
        assert flows.check(client, demo, f"NOSUCHCODE{n}").get_json()["allowed"] is False
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    listing = unknown_scans_listing(since)
    with transaction(app.extensions["ledger"].engine) as s:  # SET LOCAL needs a transaction
        assert count_unknown_scans(s, since) == 3
        assert [scan.code for scan in oversight.page(s, listing)][-1] == "NOSUCHCODE0"
        conn = s.connection()
        if conn.dialect.name != "postgresql":
            return  # SQLite's planner prefers ix_fill_checks_cylinder_station's equality
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        assert listing.counted is not None  # what the overview's count and the list's read
        for stmt in (listing.counted, listing.query.limit(50)):
            compiled = stmt.compile(conn, compile_kwargs={"literal_binds": True})
            plan = " ".join(str(r) for r in conn.execute(text(f"EXPLAIN {compiled}")))
            assert "ix_fill_checks_unknown_code" in plan, plan
