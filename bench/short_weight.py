#!/usr/bin/env python
"""The regulator's short-weight list on PostgreSQL: read from the events (before migration
0013) and from ``fill_weights`` (after), on the same ledger, with EXPLAIN.

    .venv/bin/python bench/short_weight.py [--real 1000000] [--events 4000000] [--runs 3]

A fresh schema ``bench_fill_*`` (dropped at the end) is bulk-loaded by bench/fill_check.py's
loader with a year of fortnightly rounds per cylinder (``--year`` of bench/scale.py: 106
events over 13 monthly partitions, a fill every 14 days), ``--real`` events hashed and
chained, grown to ``--events`` by bench/scale.py's copies in SQL. Unlike that loader's
fills (all exactly at the rated 15.0 kg) each fill here weighs what a filling scale gives:
net = 15.0 kg + N(0, 0.3 kg), to 10 g, so half the fills are below their rated fill and
~5 % short by more than the 0.5 kg tolerance.

For 90 and 365 days (the page's default and a year) the list's count and its first page of
50 (what ``/regulator/cylinders/short-weight`` asks, ``app.pages.regulator_lists``) and the
whole CSV stream are timed (median of ``--runs``): first as before, the payload's gross
parsed in SQL and joined with the cylinder's tare (the query of commit 1c16fc8, kept here),
then after ``fill_weights.rebuild`` (what migration 0013's backfill does, timed) through
``ledger.oversight.short_weight_listing``. The two must agree row for row (checked, and
printed). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fill_check as fc
import scale
from sqlalchemy import Numeric, cast, func, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import col

from ledger import fill_weights, oversight
from ledger.model import Cylinder, Event, Station
from ledger.params import Jurisdiction
from ledger.partitions import ensure_partitions

PAGE = 50


class WeighedLoader(fc.Loader):
    """bench/fill_check.py's loader, each fill with a net weight a real scale would give."""

    rng = random.Random(13)

    def _life(self, owner: str) -> list[tuple[str, dict[str, Any], int]]:
        life = super()._life(owner)
        out = []
        for kind, payload, station in life:
            if kind == "filled":
                net = round(15.0 + self.rng.gauss(0, 0.3), 2)
                gross = round(16.8 + net, 2)
                payload = {**payload, "gross_kg": gross, "net_kg": net}
            out.append((kind, payload, station))
        return out


def old_listing(since: dt.datetime, params: Jurisdiction) -> oversight.Listing[Any]:
    """The list as it was read before migration 0013: from the events (commit 1c16fc8)."""
    gross = cast(col(Event.payload), JSONB)["gross_kg"].as_float()
    net = func.round(cast(gross - col(Cylinder.tare_kg), Numeric), 3)
    query = (
        select(
            col(Event.occurred_at),
            col(Cylinder.code),
            col(Station.name),
            net,
            col(Cylinder.capacity_kg),
        )
        .join(Cylinder, col(Cylinder.id) == col(Event.cylinder_id))
        .outerjoin(Station, col(Station.id) == col(Event.station_id))
        .where(col(Event.type) == "filled", col(Event.occurred_at) >= since)
        .where(net < col(Cylinder.capacity_kg) - params.fill_tolerance_kg)
        .order_by(col(Event.occurred_at).desc(), col(Event.id).desc())
    )
    return oversight.Listing(
        query, lambda r: oversight.WeighedFill(r[0], r[1], r[2] or "?", float(r[3]), r[4])
    )


def timed(engine: Any, listing: oversight.Listing[Any], runs: int) -> dict[str, Any]:
    """Median ms of the count, the first page, the whole CSV stream; and the rows."""
    out: dict[str, list[float]] = {"count": [], "page": [], "csv": []}
    rows: list[Any] = []
    total = 0
    for _ in range(runs):
        with fc.transaction(engine, write=False) as s:  # as the page reads
            t0 = time.perf_counter()
            total = oversight.count(s, listing)
            t1 = time.perf_counter()
            first = oversight.page(s, listing, 0, PAGE)
            t2 = time.perf_counter()
        with fc.transaction(engine) as s:  # as the CSV streams: a server-side cursor
            rows = list(oversight.each(s, listing, 500))
            t3 = time.perf_counter()
        out["count"].append((t1 - t0) * 1000)
        out["page"].append((t2 - t1) * 1000)
        out["csv"].append((t3 - t2) * 1000)
    figures: dict[str, Any] = {k: round(statistics.median(v), 1) for k, v in out.items()}
    figures["rows"], figures["first"] = total, first
    figures["all"] = rows
    return figures


def explain(engine: Any, listing: oversight.Listing[Any], counted: bool) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of the count (``counted``) or of the first page."""
    if counted:
        rows = listing.counted if listing.counted is not None else listing.query
        stmt = select(func.count()).select_from(rows.order_by(None).subquery())
    else:
        stmt = listing.query.limit(PAGE)
    with engine.connect() as conn:
        compiled = stmt.compile(conn, compile_kwargs={"literal_binds": True})
        plan = conn.execute(text(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {compiled}"))
        return "\n".join(r[0] for r in plan)


def same(before: list[Any], after: list[Any]) -> str:
    """Whether two lists hold the same fills (time, code, net to the gram, rated fill)."""
    key = [(r.at, r.code, round(r.net_kg, 3), float(r.capacity_kg)) for r in before]
    other = [(r.at, r.code, round(r.net_kg, 3), float(r.capacity_kg)) for r in after]
    if key == other:
        return "identical"
    differ = sum(1 for a, b in zip(key, other, strict=False) if a != b)
    return f"DIFFER: {len(key)} vs {len(other)} rows, {differ} differ in place"


def run(real: int, events: int, runs: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-short-"))
    url, pg = fc.fresh_database("postgresql", tmp)
    try:
        fc.upgrade(url)
        app = fc.create_app({"DATABASE_URL": url, "INSTANCE_PATH": str(tmp / "instance"),
                             "KEYS_DIR": str(tmp / "keys"), "INTEGRATE_AFTER_WRITE": False,
                             "LOG_REQUESTS": False})  # fmt: skip
        rt = app.extensions["ledger"]
        with app.app_context(), fc.transaction(rt.engine) as s:
            demo = fc.seed(s, rt.authority, rt.now(), tmp / "instance" / "demo.json", history=False)
        start = rt.now() - dt.timedelta(days=400)
        with rt.engine.begin() as conn:
            ensure_partitions(conn, rt.now(), since=start)
        t0 = time.perf_counter()
        loader = WeighedLoader(rt.engine, demo, start, **scale.YEAR)
        loader.load(min(real, events))
        total = loader.n * loader.per_cylinder
        if total < events:
            total = scale.clone(rt.engine, total, events)
        fc.say(f"{total:,} events loaded in {time.perf_counter() - t0:.0f} s")
        with rt.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
            fills = conn.execute(text("SELECT count(*) FROM events WHERE type = 'filled'"))
            n_fills = fills.scalar_one()
        t0 = time.perf_counter()
        with rt.engine.begin() as conn:
            written = fill_weights.rebuild(conn)
        backfill = time.perf_counter() - t0
        with rt.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(
                text("VACUUM ANALYZE fill_weights")
            )
            size = conn.execute(
                text("SELECT pg_total_relation_size('fill_weights'), "
                     "pg_relation_size('ix_fill_weights_below_rated')")
            ).one()  # fmt: skip
        print(f"# short-weight list, PostgreSQL, {total:,} events, {n_fills:,} fills "
              f"(a year), page of {PAGE}, median of {runs}")  # fmt: skip
        print(f"backfill (fill_weights.rebuild, migration 0013): {written:,} rows in "
              f"{backfill:.1f} s; table + indexes {size[0] / 2**20:.0f} MB, "
              f"partial index {size[1] / 2**20:.0f} MB")  # fmt: skip
        print("| days | read | rows | count ms | first page ms | count + page ms | CSV ms |")
        print("|---|---|---|---|---|---|---|")
        now = rt.now()
        for days in (90, 365):
            since = now - dt.timedelta(days=days)
            before = timed(rt.engine, old_listing(since, rt.params), runs)
            after_listing = oversight.short_weight_listing(since, rt.params)
            after = timed(rt.engine, after_listing, runs)
            for label, f in (("events (before)", before), ("fill_weights (after)", after)):
                print(f"| {days} | {label} | {f['rows']:,} | {f['count']} | {f['page']} | "
                      f"{f['count'] + f['page']:.1f} | {f['csv']} |")  # fmt: skip
            print(f"| {days} | agreement | {same(before['all'], after['all'])} | | | | |")
            if days == 90:
                plans = (explain(rt.engine, after_listing, True),
                         explain(rt.engine, after_listing, False))  # fmt: skip
        for name, plan in zip(("count", "first page"), plans, strict=True):
            print(f"\n## EXPLAIN ANALYZE, 90 days, {name} (after)\n{plan}")
    finally:
        fc.discard(tmp, pg)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=int, default=1_000_000, help="events hashed and chained")
    parser.add_argument("--events", type=int, default=4_000_000, help="grown by SQL copies")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    run(args.real, args.events, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
