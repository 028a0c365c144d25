#!/usr/bin/env python
"""The regulator's scans of unregistered codes (未登记): count and first page, with and
without their partial index (migration 0014), on a ``fill_checks`` table a city in its
first year of registration would have.

    .venv/bin/python bench/unknown_scans.py [--backend postgresql|sqlite] [--checks 1000000]
                                            [--unknown 0.3] [--days 365] [--runs 5]

A fresh database (PostgreSQL: a schema ``bench_fill_*`` of ``BENCH_DATABASE_URL``, dropped
at the end) is migrated and the demo registry seeded; then ``--checks`` fill checks are
written spread evenly over ``--days`` days, a share ``--unknown`` of them scans of codes no
cylinder carries (refused, no ``cylinder_id``): while a city is still registering its
cylinders, many scans are of unregistered ones. For the overview's window (30 days) the
count (``ledger.unknown_scans.count_unknown_scans``, the dashboard's "未登记" row) and the
list's first page of 50 (``/regulator/blocked?reason=UNKNOWN_CODE``) are timed, median of
``--runs``, first with the partial index ``ix_fill_checks_unknown_code``, then with it
dropped (the reads of migration 0013's schema: ``ix_fill_checks_cylinder_station`` or
``ix_fill_checks_checked_at``), with each plan's first line. Both must give the same count
and page (checked). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fill_check as fc
from sqlalchemy import insert, text

from app import create_app
from app.demo import seed
from ledger import oversight
from ledger.model_rules import FillCheck
from ledger.store import transaction, upgrade
from ledger.unknown_scans import count_unknown_scans, unknown_scans_listing

WINDOW = dt.timedelta(days=30)
PAGE = 50
BATCH = 20_000


def _rows(n: int, unknown: float, days: int, now: dt.datetime, demo: dict[str, Any]) -> Any:
    """The checks, in batches: newest last; an unknown code's check refused, others allowed."""
    rng = random.Random(14)
    stations = list(demo["stations"].values())
    actor = 1  # the demo's first actor (any actor will do: the row only names who scanned)
    step = dt.timedelta(days=days) / n
    batch: list[dict[str, Any]] = []
    for i in range(n):
        is_unknown = rng.random() < unknown
        batch.append({
            "id": f"bench-{i:026d}", "cylinder_id": None if is_unknown else f"cyl-{i % 50_000}",
            "station_id": stations[i % len(stations)], "actor_id": actor,
            "code": f"U{i:012d}" if is_unknown else f"K{i % 50_000:08d}",
            "allowed": not is_unknown, "decision": "{}", "event_id": None,
            "checked_at": now - dt.timedelta(days=days) + step * i,
        })  # fmt: skip
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _timed(call: Callable[[], Any], runs: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = call()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), result


def _plan(session: Any, stmt: Any) -> str:
    conn = session.connection()
    prefix = "EXPLAIN QUERY PLAN" if conn.dialect.name == "sqlite" else "EXPLAIN"
    compiled = stmt.compile(conn, compile_kwargs={"literal_binds": True})
    rows = [" ".join(str(v) for v in row) for row in conn.execute(text(f"{prefix} {compiled}"))]
    scans = [r.strip() for r in rows if "Scan" in r or "SCAN" in r or "SEARCH" in r]
    return "; ".join(scans) or rows[0].strip()


def measure(engine: Any, since: dt.datetime, runs: int) -> dict[str, Any]:
    listing = unknown_scans_listing(since)
    assert listing.counted is not None
    with transaction(engine) as s:
        count_ms, total = _timed(lambda: count_unknown_scans(s, since), runs)
        page_ms, first = _timed(lambda: oversight.page(s, listing, 0, PAGE), runs)
        plans = (_plan(s, listing.counted), _plan(s, listing.query.limit(PAGE)))
    return {"count_ms": count_ms, "page_ms": page_ms, "total": total, "page": first,
            "plans": plans}  # fmt: skip


def run(args: argparse.Namespace) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="bench-unknown-"))
    url, pg = fc.fresh_database(args.backend, tmp)
    try:
        upgrade(url)
        app = create_app({
            "DATABASE_URL": url, "INSTANCE_PATH": str(tmp / "instance"),
            "KEYS_DIR": str(tmp / "keys"), "TESTING": True, "LOG_REQUESTS": False,
        })  # fmt: skip
        rt = app.extensions["ledger"]
        now = rt.now()
        with app.app_context(), transaction(rt.engine) as s:
            demo = seed(s, rt.authority, now, tmp / "instance" / "demo.json", history=False)
        t0 = time.perf_counter()
        for batch in _rows(args.checks, args.unknown, args.days, now, demo):
            with transaction(rt.engine) as s:
                s.execute(insert(FillCheck), batch)
        with rt.engine.begin() as conn:
            conn.execute(text("ANALYZE fill_checks"))
        fc.say(f"{args.backend}: {args.checks:,} fill checks over {args.days} days, "
               f"{args.unknown:.0%} of unregistered codes, written in "
               f"{time.perf_counter() - t0:.0f} s")  # fmt: skip
        since = now - WINDOW
        with_index = measure(rt.engine, since, args.runs)
        with rt.engine.begin() as conn:
            conn.execute(text("DROP INDEX ix_fill_checks_unknown_code"))
            conn.execute(text("ANALYZE fill_checks"))
        without = measure(rt.engine, since, args.runs)
        same = (with_index["total"], with_index["page"]) == (without["total"], without["page"])
        print(f"unregistered-code scans in the last 30 days: {with_index['total']:,} "
              f"(same count and page without the index: {same})")  # fmt: skip
        print(f"{'':>24} {'count ms':>10} {'page ms':>10}  plan (count | page)")
        for name, m in (("with the partial index", with_index), ("without (0013)", without)):
            print(f"{name:>24} {m['count_ms']:>10.1f} {m['page_ms']:>10.1f}  "
                  f"{m['plans'][0]} | {m['plans'][1]}")  # fmt: skip
        rt.engine.dispose()
        return 0 if same else 1
    finally:
        fc.discard(tmp, pg)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--checks", type=int, default=1_000_000)
    parser.add_argument("--unknown", type=float, default=0.3)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--runs", type=int, default=5)
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
