#!/usr/bin/env python
"""Fill-check p99 at a small and a large ledger, and EXPLAIN of the pages' queries (issue 7).

    .venv/bin/python bench/scale.py [--backend postgresql|sqlite] [--sizes 10000,1000000]
                                    [--checks 2000] [--real N] [--log]

For each size, a fresh database is bulk-loaded by bench/fill_check.py's loader (10-event
cylinders, chained and hashed as the service does, with projection rows; see its
docstring): 10k events is a street, 1M a district's event count, 10M a province's. By
default each cylinder has ten events 3 days apart from 400 days ago (about two monthly
partitions; 1M events are 100k short chains); with ``--year`` each has a year of
fortnightly rounds, 106 events over 13 monthly partitions, so 1M events are a district's
~9,400 cylinders × a year. Without ``--log`` the loaded events are not integrated into
the Merkle log (the fill check never reads it); with it, after the fill checks they are,
by the scheduler's job, and proofs are timed (bench/scale_log.py). On PostgreSQL the
monthly partitions of ``events`` the loader writes into are created first (migration 0006),
and with ``--real N`` only N events are loaded that way: the rest of each size is copies
of them made in SQL under new ids (``clone``), since the loader's ~5,000 events/s would
take 30 min for 10M. Then
``--checks`` fill checks in-process (``ledger.checks.fill_check`` in its own write
transaction, allowed and blocked-writing) and over Flask's test client, as
bench/fill_check.py does. The p99 of the largest size is compared with the smallest's
(target ≤ 1.5×).

On PostgreSQL, at the largest size the statements that the dashboard's read models,
the trace, the expiry sweep, a fill check, the public page and a station's sync (since a
moment ago: its incremental form) send are captured and each is EXPLAINed:
any sequential scan of a large table (events, cylinders, cylinder_states, log_leaves,
fill_checks, when it holds ≥ 10,000 rows; a partition of ``events`` by its own rows)
is printed as MISSING INDEX, and a scan left with ``enable_seqscan = off`` as NO INDEX
(a filter no index serves) or full read (bench/scale_log.py ``explain_all``). With
``--log`` the registry pages, the log's routes and /metrics are EXPLAINed too (and the
trace's leaf and checkpoint reads meet a full log). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fill_check as fc
import scale_log
from sqlalchemy import text

from ledger.partitions import ensure_partitions

# What the loader and the clone fill (events' partitions are vacuumed through their parent).
LOADED_TABLES = (
    "events", "event_ids", "cylinders", "cylinder_states", "log_pending", "fill_weights",
    "fill_checks",
)  # fmt: skip

TARGET_RATIO = 1.5


def run(
    backend: str,
    events: int,
    n_checks: int,
    explain: bool,
    real: int | None = None,
    year: bool = False,
    log: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Load ``events`` events into a fresh database, measure, EXPLAIN; drop it."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    url, pg = fc.fresh_database(backend, tmp)
    try:
        fc.upgrade(url)
        app = fc.create_app(
            {
                "DATABASE_URL": url,
                "INSTANCE_PATH": str(tmp / "instance"),
                "KEYS_DIR": str(tmp / "keys"),
                "INTEGRATE_AFTER_WRITE": False,
                "LOG_REQUESTS": False,
            }
        )
        rt = app.extensions["ledger"]
        with app.app_context(), fc.transaction(rt.engine) as s:
            demo = fc.seed(s, rt.authority, rt.now(), tmp / "instance" / "demo.json", history=False)
        t0 = time.perf_counter()
        start = rt.now() - dt.timedelta(days=400)
        if backend == "postgresql":  # a month partition for every month the loader writes
            with rt.engine.begin() as conn:
                ensure_partitions(conn, rt.now(), since=start)
        loader = fc.Loader(rt.engine, demo, start, **(YEAR if year else {}))
        loader.load(min(events, real or events))
        total = loader.n * loader.per_cylinder
        if total < events and backend == "postgresql":
            total = clone(rt.engine, total, events)
        loaded = time.perf_counter() - t0
        fc.say(f"{backend}: {total:,} events loaded in {loaded:.0f} s")
        if backend == "postgresql":
            # As on a server long past its bulk load: the loaded tables vacuumed and analyzed
            # (else autovacuum's pass over millions of inserted rows runs during the rows
            # measured last), and the load's WAL written out (else the checkpoint it sets
            # off lands on the first row measured).
            with rt.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text(f"VACUUM (ANALYZE) {', '.join(LOADED_TABLES)}"))
                conn.execute(text("CHECKPOINT"))
        out = fc.measure(app, demo, loader, n_checks, backend)
        out["load_s"] = round(loaded, 1)
        out["events"] = total
        if log is not None and backend == "postgresql":
            out["log"] = scale_log.run_log(app, loader, explain=explain, **log)
        if explain and backend == "postgresql":
            out["plans"] = explain_pages(app, loader)
        return out
    finally:
        fc.discard(tmp, pg)


# --year: each cylinder's life is a year of fortnightly rounds (fill, dispatch, deliver,
# return), 106 events 3.4 days apart from 400 days ago: the events fill 13 monthly
# partitions, and 1M events are a district's ~9,400 cylinders.
YEAR = {"rounds": 26, "spacing": dt.timedelta(days=3.4)}


def clone(engine: Any, real: int, events: int) -> int:
    """Grow the ledger to ``events`` by copying the loaded cylinders (their registry rows,
    events and projections) in SQL under new ids and codes: the loader's Python hashing
    runs at ~5,000 events/s, too slow for 10M. The copies' hashes and signatures do not
    verify (never audited); the fill checks use the loaded cylinders' codes. Returns the
    number of events."""
    total, k = real, 0
    while total < events:
        k += 1
        with engine.begin() as conn:
            for sql in _clone_sql(conn):
                conn.execute(text(sql), {"k": f"x{k}"})
        total += real
        fc.say(f"  cloned to {total:,} events")
    return total


def _clone_sql(conn: Any) -> list[str]:
    new = {"id": "md5(id || :k)::uuid::text", "cylinder_id": "md5(cylinder_id || :k)::uuid::text"}
    originals = "SELECT id FROM cylinders WHERE manufacturer = 'bench' AND code !~ 'x'"
    replace = {
        "cylinders": {"id": new["id"], "code": "code || :k"},
        "events": {"id": new["id"], "cylinder_id": new["cylinder_id"],
                   "hash": "sha256(hash || convert_to(:k, 'UTF8'))"},
        "cylinder_states": {"cylinder_id": new["cylinder_id"]},
    }  # fmt: skip
    where = {
        "cylinders": f"id IN ({originals})",
        "events": "key_id = 'bench' AND length(id) = 36 AND cylinder_id IN (" + originals + ")",
        "cylinder_states": f"cylinder_id IN ({originals})",
    }
    out = []
    for table, repl in replace.items():
        cols = list(
            conn.execute(
                text(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = :t "
                    "AND table_schema = current_schema() ORDER BY ordinal_position"
                ),
                {"t": table},
            ).scalars()
        )
        exprs = ", ".join(repl.get(c, c) for c in cols)
        out.append(
            f"INSERT INTO {table} ({', '.join(cols)}) SELECT {exprs} FROM {table} "
            f"WHERE {where[table]}"
        )
    return out


def explain_pages(app: Any, loader: Any) -> list[Any]:
    """Capture the statements of the pages' read models and EXPLAIN each one."""
    from ledger import checks, daily, log, oversight, station_sync, sweeps, trace, verification
    from ledger.note import verifier_from_key, verifier_key_for
    from ledger.unknown_scans import count_unknown_scans, unknown_scans_listing

    rt = app.extensions["ledger"]
    now = rt.now()
    code = loader.codes["a"][0]
    verifier = verifier_from_key(verifier_key_for(rt.authority.server))
    calls = {
        "blocked_fills": lambda s: oversight.blocked_fills(s, now - dt.timedelta(days=30)),
        "blocked_summary": lambda s: oversight.blocked_summary(s, now - dt.timedelta(days=30)),
        "unknown_scans_count": lambda s: count_unknown_scans(s, now - dt.timedelta(days=30)),
        "unknown_scans_page": lambda s: oversight.page(
            s, unknown_scans_listing(now - dt.timedelta(days=30)), 0, 50
        ),
        "overdue": lambda s: oversight.overdue(s, now.date()),
        "expiring": lambda s: oversight.expiring(s, now.date(), rt.params),
        "stale": lambda s: oversight.stale(s, now, 90),
        "per_day": lambda s: daily.per_day(
            s, ("filled",), now - dt.timedelta(days=60), "Asia/Shanghai"
        ),
        "trace": lambda s: trace.trace(s, code, verifier, rt.authority.origin),
        "history_leaves": lambda s: log.leaf_indexes_of_cylinder(s, trace.find(s, code).id),
        "expiry_sweep": lambda s: sweeps.expiry_sweep(s, now.date(), now),
        "fill_check": lambda s: checks.fill_check(
            s, rt.authority, _actor(s, loader), loader.demo["stations"]["a"], code, now, rt.params
        ),
        "public_page": lambda s: verification.public_view(
            s, rt.authority, code, None, now, rt.params
        ),
        "station_sync": lambda s: station_sync.snapshot(
            s, rt.authority, loader.demo["stations"]["a"], now, rt.params, now
        ),
    }
    out = []
    for name, call in calls.items():
        with scale_log.captured() as seen, fc.transaction(rt.engine) as s:
            call(s)
            s.rollback()  # the sweep's and the check's writes are not kept
        out.extend((name, st, f, d) for st, f, d in scale_log.explain_all(rt.engine, seen))
    return out


def _actor(session: Any, loader: Any) -> Any:
    from ledger import registry

    return registry.actor_for_token(session, loader.demo["tokens"]["station_a"])


def main() -> int:
    """Parse arguments, run each size, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="postgresql", choices=["sqlite", "postgresql"])
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--checks", type=int, default=2000)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--real",
        type=int,
        default=None,
        help="PostgreSQL: events loaded (hashed) by the Python loader; the rest of each size "
        "is copies of them made in SQL (default: all loaded)",
    )
    parser.add_argument(
        "--year", action="store_true", help="cylinders with a year of events each (106)"
    )
    parser.add_argument("--log", action="store_true", help="integrate and time proofs")
    parser.add_argument("--proofs", type=int, default=2000, help="--log: proofs per row")
    parser.add_argument(
        "--checkpoints", type=int, default=20_000, help="--log: earlier checkpoints stored"
    )
    args = parser.parse_args()
    log = {"n_proofs": args.proofs, "n_checkpoints": args.checkpoints} if args.log else None
    sizes = [int(x) for x in args.sizes.split(",")]
    results = []
    for i, size in enumerate(sizes):
        fc.say(f"{args.backend}: loading {size:,} events …")
        last = i == len(sizes) - 1
        results.append(run(args.backend, size, args.checks, last, args.real, args.year, log))
    print(
        f"\n# bench/scale.py — {args.backend}{' --year' if args.year else ''}, "
        f"{args.checks} checks per row, "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}"
    )
    print("| events | load s | path | p50 ms | p99 ms | max ms | p99 ÷ smallest |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        for path in ("service_allowed", "service_blocked", "http_allowed"):
            ratio = r[path]["p99_ms"] / results[0][path]["p99_ms"]
            verdict = (
                f"{ratio:.2f} ({'met' if ratio <= TARGET_RATIO else 'MISSED'} ≤{TARGET_RATIO})"
            )
            print(
                f"| {r['events']:,} | {r['load_s']} | {path} | {r[path]['p50_ms']:.2f} | "
                f"{r[path]['p99_ms']:.2f} | {r[path]['max_ms']:.2f} | {verdict} |"
            )
    plans = results[-1].get("plans")
    if plans:
        print(f"\n## EXPLAIN at {results[-1]['events']:,} events: sequential scans of large tables")
        for name, stmt, found, _ in plans:
            print(
                f"- {name}: {'; '.join(found) if found else 'ok'} — {' '.join(stmt.split())[:90]}"
            )
    scale_log.report(results)
    scale_log.print_flagged((plans or []) + results[-1].get("log", {}).get("plans", []))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
