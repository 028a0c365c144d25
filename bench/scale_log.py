#!/usr/bin/env python
"""The Merkle log at scale: integration, proofs, and EXPLAIN of the log's, registry's and
/metrics' statements (called by ``bench/scale.py --log``; it never runs alone, since it
needs scale.py's loaded database).

    .venv/bin/python bench/scale.py --sizes 10000,200000 --real 50000 --checks 300 --log
                                    [--proofs 2000] [--checkpoints 20000]

**Which events become leaves, and why that is honest.** bench/fill_check.py's loader and
scale.py's ``clone`` write ``events`` rows directly, without the sequencer's queue
(``log_pending``), so nothing of theirs is pending. The log does not recompute or verify an
event's hash when integrating it: ``ledger.log.integrate`` reads ``(seq, event_id,
event_hash)`` from ``log_pending`` alone, hashes ``0x00 ‖ event_hash`` into a leaf, and
writes ``log_leaves (leaf_index, event_id)`` (``event_id`` unique) and the tiles. The
loader's events have their real hashes; a clone's id is ``md5(id ‖ k)`` and its hash
``sha256(hash ‖ k)`` (``k`` = the copy's number), so every id and every leaf is distinct,
though a clone's hash is not the hash of its fields (never audited, as scale.py says).
Integration and proofs cost the same for any 32-byte hashes, so all events are
integrated. The queue is filled in one SQL statement, ``INSERT INTO log_pending SELECT
id, hash FROM events WHERE key_id = 'bench' ORDER BY recorded_at, id`` (the order of
commits; in the service every append writes its queue row in its own transaction, so
that cost belongs to appends, and is timed apart here as "enqueue"). Then the
scheduler's own job runs: ``app.jobs.integrate_and_checkpoint(app)`` (one transaction, its
advisory lock, ``ledger.log.integrate`` in batches of 200,000 until nothing is pending,
then a signed checkpoint), timed whole (commit included) and per batch (a wrapper around
``ledger.log.integrate`` that only times it). Then ``VACUUM ANALYZE`` of the log's
tables (what autovacuum would do after the queue's millions of deletes), also timed. Table
and index sizes of the log's tables (``pg_table_size``, ``pg_indexes_size``,
``pg_total_relation_size``) and of the whole schema are printed before the queue is filled
and after the VACUUM (which shrinks no file: ``log_pending`` keeps its emptied pages).

``--checkpoints N`` (default 20,000) then stores N signed checkpoints of earlier sizes
(spread over 1…size-1 leaves, each root computed from the stored tree by
``ledger.log.root_at`` and signed by the log's key, 10 s apart) and the current one again,
newest by size and by id: what the scheduler leaves behind (one per 10 s while the tree
grows: ~3M a year), so that ``checkpoints`` is a large table for the EXPLAINs (they are not
in the sizes above, taken before them; ``ANALYZE checkpoints`` follows, so the planner and
the EXPLAINs' row counts see them). Sizes must
be distinct as in production: with copies of one checkpoint the planner (n_distinct 2)
sorts the whole table for the newest instead of reading ``ix_checkpoints_size``.

**Proofs.** At the integrated size N: ``--proofs`` inclusion proofs of random leaves
(seeded) and consistency proofs from random sizes 1…N-1 to N, each through the service
function (``ledger.log.inclusion_proof`` / ``consistency_proof`` in its own read
session, as the route calls it) and through the HTTP route (Flask's test client, each
request from another client address, so the public rate limit is not hit and its cost is
in the figure), and ``GET /api/v1/ledger/checkpoint``. 50 warm-ups each; 20 of each kind
are verified (RFC 9162) against ``ledger.log.root_at`` and the checkpoint's root.

**EXPLAIN** (largest size, with ``explain``): every SELECT sent by the regulator's
registry pages (/regulator/enterprises, /regulator/reports), the registry API's reads
(enterprises, licences, stations, actors, vehicles, customers: as the regulator and as
enterprise A), the log routes (checkpoint, inclusion and consistency proofs, leaf) and
/metrics (once with the whole load pending, once after) is captured over the test client
and EXPLAINed. A sequential scan of a large table (≥ 10,000 rows; a partition of
``events`` by its own rows) is MISSING INDEX, as in scale.py. Since the registry's tables
stay tiny in this bench (the demo district), each statement is also planned with
``enable_seqscan = off``:
a sequential scan that remains with a filter means no index serves that filter at any
size ("NO INDEX"), as does an index scan with a filter and no index condition (an index
read whole for its order) on a table of ≥ 1,000 rows; a sequential scan without a filter
is a whole-table read ("full read"). Printed,
never asserted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import fill_check as fc
from sqlalchemy import event, insert, text
from sqlalchemy.engine import Engine

from ledger import log, merkle
from ledger.checkpoint import Checkpoint as CheckpointBody
from ledger.checkpoint import sign_checkpoint
from ledger.model import Checkpoint
from ledger.store import transaction

BIG_TABLES = ("events", "cylinders", "cylinder_states", "log_leaves", "fill_checks")
LOG_TABLES = ("log_pending", "log_leaves", "merkle_tiles", "checkpoints", "log_state")
WATCHED = (*BIG_TABLES, "log_pending", "merkle_tiles", "checkpoints", "notifications",
           "enterprises", "licences", "stations", "actors", "vehicles", "customers",
           "public_reports")  # fmt: skip
LARGE = 10_000
FEW = 1_000  # rows below which an index scan with a filter is the planner's whim
WARMUP = 50


def run_log(
    app: Any, loader: Any, n_proofs: int, n_checkpoints: int, explain: bool
) -> dict[str, Any]:
    """Enqueue and integrate the loaded events, measure proofs; EXPLAIN when asked."""
    rt = app.extensions["ledger"]
    out: dict[str, Any] = {"sizes_before": table_sizes(rt.engine)}
    t0 = time.perf_counter()
    with rt.engine.begin() as conn:
        queued = conn.execute(text(_ENQUEUE)).rowcount
    out["enqueue_s"] = round(time.perf_counter() - t0, 1)
    fc.say(f"  {queued:,} events queued for the log in {out['enqueue_s']} s")
    _vacuum(rt.engine, analyze_only=True)
    plans = explain_routes(app, loader, metrics_only=True) if explain else []
    out["integration"] = integrate(app)
    t0 = time.perf_counter()
    _vacuum(rt.engine)
    out["vacuum_s"] = round(time.perf_counter() - t0, 1)
    out["sizes_after"] = table_sizes(rt.engine)  # after the VACUUM: no file shrinks
    out["checkpoints_s"] = history(app, n_checkpoints)  # not in the sizes above
    with rt.engine.connect() as conn:  # the planner (and explain_all's row counts) see them
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE checkpoints"))
    out["proofs"] = measure_proofs(app, n_proofs)
    if explain:
        out["plans"] = [(f"{n} (backlog)", *rest) for n, *rest in plans]
        out["plans"] += explain_routes(app, loader)
    return out


_ENQUEUE = (
    "INSERT INTO log_pending (event_id, event_hash) "
    "SELECT id, hash FROM events WHERE key_id = 'bench' ORDER BY recorded_at, id"
)


def _vacuum(engine: Engine, analyze_only: bool = False) -> None:
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        if analyze_only:
            conn.execute(text("ANALYZE"))
        else:
            conn.execute(text(f"VACUUM ANALYZE {', '.join(LOG_TABLES)}"))


def history(app: Any, n: int) -> float:
    """Store ``n`` signed checkpoints of earlier sizes of the tree (spread over 1…size-1,
    roots from ``ledger.log.root_at``, signed by the log's key, 10 s apart), then one of
    the current size again: the newest by size and by id, as the scheduler leaves it."""
    rt = app.extensions["ledger"]
    t0 = time.perf_counter()
    with transaction(rt.engine) as s:
        size = log.log_state(s).size
        n = min(n, size - 1)
        sizes = sorted({1 + k * (size - 1) // max(n, 1) for k in range(n)} | {size})
        now, rows = dt.datetime.now(dt.UTC), []
        for k, at in enumerate(sizes):
            root = log.root_at(s, at)
            note = sign_checkpoint(
                CheckpointBody(rt.authority.origin, at, root), rt.authority.server
            )
            when = now - dt.timedelta(seconds=10 * (len(sizes) - k))
            rows.append({"size": at, "root": root, "note": note, "created_at": when})
        s.execute(insert(Checkpoint.__table__), rows)  # type: ignore[attr-defined]
    elapsed = time.perf_counter() - t0
    fc.say(f"  {len(rows):,} checkpoints of earlier sizes stored in {elapsed:.1f} s")
    return round(elapsed, 1)


def integrate(app: Any) -> dict[str, Any]:
    """The scheduler's job, timed whole and per ``ledger.log.integrate`` batch."""
    from app import jobs

    batches: list[tuple[int, float]] = []
    original = log.integrate

    def timed(session: Any, *args: Any, **kwargs: Any) -> log.Integration:
        t0 = time.perf_counter()
        step = original(session, *args, **kwargs)
        if step.new_size > step.old_size:
            batches.append((step.new_size - step.old_size, time.perf_counter() - t0))
            fc.say(f"  integrated to {step.new_size:,} leaves")
        return step

    log.integrate = timed
    try:
        t0 = time.perf_counter()
        result = jobs.integrate_and_checkpoint(app)
        elapsed = time.perf_counter() - t0
    finally:
        log.integrate = original
    assert result["status"] == "done", result
    n = result["integrated"]
    rates = [k / s for k, s in batches]
    fc.say(f"  {n:,} events integrated in {elapsed:.1f} s ({n / elapsed:,.0f}/s)")
    return {"events": n, "tree_size": result["tree_size"], "seconds": round(elapsed, 2),
            "events_per_s": round(n / elapsed), "batches": len(batches),
            "batch_min_per_s": round(min(rates)), "batch_max_per_s": round(max(rates)),
            "batch_per_s": [round(r) for r in rates]}  # fmt: skip


def table_sizes(engine: Engine) -> dict[str, dict[str, int]]:
    """Bytes of the log's tables (heap+TOAST, indexes, total), events', and the schema's."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT relname, pg_table_size(oid), pg_indexes_size(oid), "
                "pg_total_relation_size(oid), reltuples FROM pg_class "
                "WHERE relnamespace = current_schema()::regnamespace AND relname = ANY(:t)"
            ),
            {"t": list(LOG_TABLES)},
        ).all()
        out = {
            r[0]: {"table": r[1], "indexes": r[2], "total": r[3], "rows": int(r[4])} for r in rows
        }
        out["events (all partitions)"] = {"total": conn.execute(text(
            "SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('events')"
        )).scalar_one()}  # fmt: skip
        out["schema"] = {"total": conn.execute(text(
            "SELECT sum(pg_total_relation_size(oid)) FROM pg_class WHERE relkind = 'r' "
            "AND relnamespace = current_schema()::regnamespace"
        )).scalar_one()}  # fmt: skip
    return out


def measure_proofs(app: Any, n: int) -> dict[str, Any]:
    """p50/p99 of inclusion and consistency proofs (service and HTTP) and the checkpoint."""
    rt = app.extensions["ledger"]
    rng = random.Random(11)
    with transaction(rt.engine, write=False) as s:
        size, root = log.log_state(s).size, log.log_state(s).root
        newest = log.latest_checkpoint(s)
        assert newest is not None and newest.size == size and newest.root == root
        assert log.root_at(s, size) == root
        for _ in range(20):  # the proofs served must verify (RFC 9162)
            i, old = rng.randrange(size), rng.randrange(1, size)
            leaf, path = log.inclusion_proof(s, i, size)
            merkle.verify_inclusion(leaf, i, size, path, root)
            proof = log.consistency_proof(s, old, size)
            merkle.verify_consistency(old, size, proof, log.root_at(s, old), root)
    client, addr = app.test_client(), iter(range(1, 1 << 30))

    def get(url: str) -> Callable[[], None]:
        def call() -> None:
            a = next(addr)
            env = {"REMOTE_ADDR": f"10.{a >> 16 & 255}.{a >> 8 & 255}.{a & 255}"}
            resp = client.get(url.format(i=rng.randrange(size), o=rng.randrange(1, size)),
                              environ_base=env)  # fmt: skip
            assert resp.status_code == 200, (url, resp.status_code, resp.get_data()[:200])

        return call

    def service(proof: Callable[[Any], Any]) -> Callable[[], None]:
        def call() -> None:
            with transaction(rt.engine, write=False) as s:
                proof(s)

        return call

    calls = {
        "service_inclusion": service(lambda s: log.inclusion_proof(s, rng.randrange(size), size)),
        "service_consistency": service(
            lambda s: log.consistency_proof(s, rng.randrange(1, size), size)
        ),
        "http_inclusion": get(f"/api/v1/ledger/proofs/inclusion?index={{i}}&size={size}"),
        "http_consistency": get(f"/api/v1/ledger/proofs/consistency?old={{o}}&new={size}"),
        "http_checkpoint": get("/api/v1/ledger/checkpoint"),
    }
    out: dict[str, Any] = {"tree_size": size}
    for name, call in calls.items():
        samples = []
        for k in range(n + WARMUP):
            t0 = time.perf_counter()
            call()
            if k >= WARMUP:
                samples.append((time.perf_counter() - t0) * 1000)
        out[name] = fc.summary(samples)
    return out


# --- EXPLAIN -----------------------------------------------------------------------------


def explain_routes(app: Any, loader: Any, metrics_only: bool = False) -> list[Any]:
    """Capture the SELECTs each route sends over the test client; EXPLAIN each."""
    demo, client = loader.demo, app.test_client()
    if metrics_only:
        routes: dict[str, tuple[str, str | None]] = {"/metrics": ("/metrics", None)}
    else:
        routes = _routes(app, client, demo)
    out = []
    for name, (url, token) in routes.items():
        headers = {"Authorization": f"Bearer {demo['tokens'][token]}"} if token else {}
        with captured() as seen:
            resp = client.get(url, headers=headers, environ_base={"REMOTE_ADDR": "10.99.0.1"})
        if resp.status_code != 200:
            out.append((name, f"HTTP {resp.status_code}", ["not captured"], ""))
            continue
        engine = app.extensions["ledger"].engine
        out.extend((name, _short(s), f, d) for s, f, d in explain_all(engine, seen))
    return out


def _routes(app: Any, client: Any, demo: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    rt = app.extensions["ledger"]
    with transaction(rt.engine, write=False) as s:
        size = log.log_state(s).size
    ent, st = demo["enterprises"]["a"], demo["stations"]["a"]
    ids = {}
    for kind in ("actors", "vehicles", "customers"):  # an id of each, from the API's lists
        resp = client.get(f"/api/v1/{kind}", headers={"Authorization": "Bearer "
                          + demo["tokens"]["enterprise_a"]})  # fmt: skip
        rows = resp.get_json().get(kind) or [{"id": 1}]
        ids[kind] = rows[-1]["id"]
    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf, "no CSRF token on /login"
    login = {"csrf_token": csrf.group(1), "login": "regulator",
             "password": demo["passwords"]["regulator"]}  # fmt: skip
    assert client.post("/login", data=login).status_code == 302, "regulator login failed"
    routes: dict[str, tuple[str, str | None]] = {
        "page /regulator/enterprises": ("/regulator/enterprises", None),
        "page /regulator/reports": ("/regulator/reports", None),
        "page /regulator/reports?closed": ("/regulator/reports?status=reviewed", None),
    }
    for who in ("regulator", "enterprise_a"):
        for path in ("enterprises", f"enterprises/{ent}", f"enterprises/{ent}/licences",
                     "stations", f"stations/{st}", "actors", "actors/me",
                     f"actors/{ids['actors']}", "vehicles", f"vehicles/{ids['vehicles']}",
                     "customers", f"customers/{ids['customers']}"):  # fmt: skip
            routes[f"api {path} ({who})"] = (f"/api/v1/{path}", who)
    i = random.Random(3).randrange(size)
    routes |= {
        "checkpoint": ("/api/v1/ledger/checkpoint", None),
        "inclusion proof": (f"/api/v1/ledger/proofs/inclusion?index={i}&size={size}", None),
        "consistency proof": (f"/api/v1/ledger/proofs/consistency?old={i + 1}&new={size}", None),
        "leaf (regulator)": (f"/api/v1/ledger/leaves/{i}", "regulator"),
        "/metrics": ("/metrics", None),
    }
    return routes


def _short(stmt: str) -> str:
    return " ".join(stmt.split())[:100]


@contextlib.contextmanager
def captured() -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def grab(_conn: Any, _cur: Any, stmt: str, params: Any, _ctx: Any, _many: bool) -> None:
        if stmt.lstrip().upper().startswith(("SELECT", "WITH")):
            seen.append((stmt, params))

    event.listen(Engine, "before_cursor_execute", grab)  # every engine: reads beside too
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", grab)


def explain_all(engine: Engine, seen: list[tuple[str, Any]]) -> list[tuple[str, list[str], str]]:
    """EXPLAIN each statement, normally and with enable_seqscan off: (statement, findings,
    the statement and its plan in full when anything is found)."""
    out, done = [], set()
    with engine.connect() as conn:
        root, rows = relations(conn)
        raw = conn.connection.dbapi_connection
        assert raw is not None
        for stmt, params in seen:
            if stmt in done:
                continue
            done.add(stmt)
            with raw.cursor() as cur:  # type: ignore[attr-defined]
                cur.execute("EXPLAIN (FORMAT JSON) " + stmt, params)
                plain = _scans(cur.fetchone()[0][0]["Plan"])
                cur.execute("EXPLAIN " + stmt, params)
                plan = "\n".join(r[0] for r in cur.fetchall())
                cur.execute("SET enable_seqscan = off")
                try:
                    cur.execute("EXPLAIN (FORMAT JSON) " + stmt, params)
                    forced = _scans(cur.fetchone()[0][0]["Plan"])
                finally:
                    cur.execute("RESET enable_seqscan")
            found = []
            for rel, _, _ in sorted(plain):  # a partition is judged by its own rows
                if root.get(rel, rel) in WATCHED and rows.get(rel, 0) >= LARGE:
                    found.append(f"MISSING INDEX: seq scan of {_name(rel, root, rows)}")
            for rel, filt, index in sorted(forced):
                if root.get(rel, rel) not in WATCHED or (index and rows.get(rel, 0) < FEW):
                    continue  # below FEW rows the planner's pick of an index means little
                what = "NO INDEX for the filter on" if filt else "full read of"
                found.append(f"{what} {_name(rel, root, rows)}")
            flagged = any(f.startswith(("MISSING", "NO INDEX")) for f in found)
            out.append((stmt, found, f"{stmt}\n{params}\n{plan}" if flagged else ""))
        raw.rollback()
    return out


def _name(rel: str, root: dict[str, str], rows: dict[str, int]) -> str:
    table = root.get(rel, rel)
    return f"{table}{'' if table == rel else ' partition ' + rel}, {rows.get(rel, 0):,} rows"


def relations(conn: Any) -> tuple[dict[str, str], dict[str, int]]:
    """Each table of the schema → its root table (a partition → ``events``), and each
    table's rows (the planner's statistics: fresh after the ANALYZE the benches run)."""
    found = conn.execute(
        text(
            "SELECT c.relname, coalesce(p.relname, c.relname), c.reltuples "
            "FROM pg_class c LEFT JOIN pg_inherits i ON i.inhrelid = c.oid "
            "LEFT JOIN pg_class p ON p.oid = i.inhparent "
            "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'"
        )
    ).all()
    return {n: r for n, r, _ in found}, {n: max(0, int(t)) for n, _, t in found}


def _scans(node: dict[str, Any]) -> set[tuple[str, bool, bool]]:
    """(relation, has a filter, is an index scan) of every sequential scan in a plan, and
    of every index scan that reads its index whole for a filter (no Index Cond)."""
    found = set()
    kind = node.get("Node Type")
    if kind == "Seq Scan":
        found.add((node["Relation Name"], "Filter" in node, False))
    elif (
        kind in ("Index Scan", "Index Only Scan") and "Filter" in node and "Index Cond" not in node
    ):
        found.add((node["Relation Name"], True, True))
    for child in node.get("Plans", []):
        found |= _scans(child)
    return found


# --- printing ----------------------------------------------------------------------------


def report(results: list[dict[str, Any]]) -> None:
    """Print the log's figures of each size, and the EXPLAIN findings of the largest."""
    runs = [r for r in results if "log" in r]
    if not runs:
        return
    print("\n## The Merkle log: integration (scheduler's job) and its tables")
    print("| events | enqueue s | integrated | s | events/s | batches (min–max /s) | "
          "vacuum s | log MB before → after | schema MB before → after |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        lg, it = r["log"], r["log"]["integration"]
        logmb = [sum(v["total"] for k, v in lg[w].items() if k in LOG_TABLES) / 2**20
                 for w in ("sizes_before", "sizes_after")]  # fmt: skip
        schema = [lg[w]["schema"]["total"] / 2**20 for w in ("sizes_before", "sizes_after")]
        print(f"| {r['events']:,} | {lg['enqueue_s']} | {it['events']:,} | {it['seconds']} | "
              f"{it['events_per_s']:,} | {it['batches']} ({it['batch_min_per_s']:,}–"
              f"{it['batch_max_per_s']:,}) | {lg['vacuum_s']} | {logmb[0]:.1f} → {logmb[1]:.1f} "
              f"| {schema[0]:.1f} → {schema[1]:.1f} |")  # fmt: skip
    print("\n| events | table | rows | table MB | index MB | total MB |")
    print("|---|---|---|---|---|---|")
    for r in runs:
        for name, v in r["log"]["sizes_after"].items():
            if name in LOG_TABLES:
                print(f"| {r['events']:,} | {name} | {v['rows']:,} | {v['table'] / 2**20:.2f} | "
                      f"{v['indexes'] / 2**20:.2f} | {v['total'] / 2**20:.2f} |")  # fmt: skip
        ev = r["log"]["sizes_after"]["events (all partitions)"]["total"]
        print(f"| {r['events']:,} | events (all partitions, for scale) | | | | {ev / 2**20:.1f} |")
    print("\n| tree size | path | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|")
    for r in runs:
        pr = r["log"]["proofs"]
        for path, v in pr.items():
            if isinstance(v, dict):
                print(f"| {pr['tree_size']:,} | {path} | {v['p50_ms']:.2f} | {v['p99_ms']:.2f} "
                      f"| {v['max_ms']:.2f} |")  # fmt: skip
    plans = runs[-1]["log"].get("plans")
    if plans:
        print(f"\n## EXPLAIN at {runs[-1]['events']:,} events: registry, log routes, /metrics")
        for name, stmt, found, _ in plans:
            print(f"- {name}: {'; '.join(found) if found else 'ok'} — {stmt}")


def print_flagged(plans: list[Any]) -> None:
    """The statements and plans behind every MISSING INDEX and NO INDEX finding."""
    seen = set()
    if any(d for *_, d in plans):
        print("\n## Statements and plans of the findings")
    for name, _, _, detail in plans:
        if detail and detail not in seen:
            seen.add(detail)
            print(f"\n### {name}\n```\n{detail}\n```")


if __name__ == "__main__":
    raise SystemExit("run it through bench/scale.py --log (it needs scale.py's loaded database)")
