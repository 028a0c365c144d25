#!/usr/bin/env python
"""Fill-check latency with a large ledger (issue 3's target: p99 ≤ 10 ms server-side at 1M).

    .venv/bin/python bench/fill_check.py [--backend sqlite|postgresql|both]
                                         [--events 1000000] [--checks 3000]

A fresh database per backend (a temp SQLite file; a fresh PostgreSQL schema, dropped at
the end) gets the small demo registry and then ``--events`` events bulk-loaded on 10-event
cylinders (registered, two fill → dispatch → deliver → return rounds, a last fill),
chained and hashed as the service does, with their projection rows. 10 % of the cylinders
belong to enterprise B, so a check at station A blocks (NOT_OWNED) and writes its
``fill_blocked`` event. Then, in one process, ``--checks`` checks of random cylinders:

- server-side: ``ledger.checks.fill_check`` as the view calls it (its write transaction,
  commit included, with the reads beside it), for allowed and for blocked (writing) checks
  separately;
- over HTTP: ``POST /api/v1/fill-checks`` through Flask's test client (token lookup, input
  schema, JSON), integrate-after-write off.

Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, insert, text  # noqa: E402

from app import create_app  # noqa: E402
from app.demo import seed  # noqa: E402
from ledger import checks, registry  # noqa: E402
from ledger.events import ZERO_HASH, EventFields, event_hash, payload_text  # noqa: E402
from ledger.ids import new_id  # noqa: E402
from ledger.model import Cylinder, Event  # noqa: E402
from ledger.model_rules import CylinderStateRow  # noqa: E402
from ledger.params import Jurisdiction  # noqa: E402
from ledger.state import CylinderState, EventView, apply, registered  # noqa: E402
from ledger.store import reads_beside, transaction, upgrade  # noqa: E402

PG_DEFAULT = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
TARGET_P99_MS = 10.0
ROUNDS = 2  # fill → dispatch → deliver → return rounds per cylinder: 10 events with the
# registration and a last fill; bench/scale.py --year takes 26 (a year of fortnightly rounds)
SPACING = dt.timedelta(days=3)  # between one cylinder's events
CHUNK = 20_000  # events per insert batch
CHECKLIST = dict.fromkeys(
    ("valve", "hose", "regulator", "leak_test", "ventilation", "single_gas_source",
     "storage_room", "not_basement"),
    True,
)  # fmt: skip


def say(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Loader:
    """Bulk-loads chained events and their projection rows (one signature reused: these
    events are never audited; the audit's speed is bench/ledger.py's business)."""

    def __init__(
        self,
        engine: Any,
        demo: dict[str, Any],
        start: dt.datetime,
        rounds: int = ROUNDS,
        spacing: dt.timedelta = SPACING,
    ) -> None:
        self.engine, self.demo, self.start = engine, demo, start
        self.rounds, self.spacing = rounds, spacing
        self.per_cylinder = 1 + 4 * rounds + 1  # registered, the rounds, a last fill
        self.params = Jurisdiction()
        with transaction(engine) as s:
            self.actor = registry.actor_for_token(s, demo["tokens"]["station_a"])
            self.driver = registry.actor_for_token(s, demo["tokens"]["driver_a"])
        self.signature = b"\x00" * 64
        self.codes: dict[str, list[str]] = {"a": [], "b": []}
        self.n = 0

    def _life(self, owner: str) -> list[tuple[str, dict[str, Any], int]]:
        st = self.demo["stations"]["a"]
        fill = ("filled", {"station_id": st, "gross_kg": 31.8, "tare_kg": 16.8, "net_kg": 15.0}, st)
        rounds = [
            fill,
            ("dispatched", {"vehicle": self.demo["vehicles"]["a"]}, 0),
            ("delivered", {"customer_id": 1, "checklist": CHECKLIST}, 0),
            ("returned", {"customer_id": 1}, 0),
        ]
        return rounds * self.rounds + [fill]

    def cylinder(self, owner: str) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
        self.n += 1
        cid, code = new_id(), f"BF{self.n:09d}{owner.upper()}"
        owner_id = self.demo["enterprises"][owner]
        reg = {"code": code, "serial": f"BF{self.n:09d}", "manufacturer": "bench",
               "manufactured_on": "2024-06-01", "model": "YSP35.5", "capacity_kg": 15.0,
               "tare_kg": 16.8, "dual_phase": False, "owner": owner_id,
               "last_inspected_on": None, "service_life_years": None}  # fmt: skip
        t = self.start + dt.timedelta(seconds=self.n)
        rows, prev = [], ZERO_HASH
        state: CylinderState | None = None
        for seq, (kind, payload, station) in enumerate(
            [("registered", reg, 0), *self._life(owner)], 1
        ):
            actor = self.driver if kind in ("dispatched", "delivered", "returned") else self.actor
            assert actor is not None and actor.id is not None
            t += self.spacing
            site = payload.get("customer_id") if kind in ("delivered", "returned") else None
            fields = EventFields(
                id=new_id(), cylinder=cid, type=kind, occurred_at=t, recorded_at=t,
                actor=actor.id, station=station or None, site=site, payload=payload,
                prev_hash=prev, key_id="bench", payload_json=payload_text(payload),
            )  # fmt: skip
            h = event_hash(fields)
            rows.append({"id": fields.id, "cylinder_id": cid, "seq": seq, "type": kind,
                         "occurred_at": t, "recorded_at": t, "actor_id": actor.id,
                         "station_id": fields.station, "site_id": site,
                         "payload": fields.payload_json, "prev_hash": prev, "hash": h,
                         "key_id": "bench", "signature": self.signature})  # fmt: skip
            view = EventView(kind, payload, t, fields.station, site, actor.id)
            state = registered(cid, reg, t) if state is None else apply(state, view)
            prev = h
        assert state is not None
        cyl = {"id": cid, "code": code, "serial": reg["serial"], "manufacturer": "bench",
               "manufactured_on": dt.date(2024, 6, 1), "model": "YSP35.5", "capacity_kg": 15.0,
               "tare_kg": 16.8, "dual_phase": False, "service_life_years": None,
               "owner_id": owner_id, "last_inspected_on": None, "next_inspection_due": None,
               "registered_at": self.start, "head_seq": len(rows), "head_hash": prev}  # fmt: skip
        proj = {"cylinder_id": cid, "owner_id": owner_id, "status": state.status,
                "seq": state.seq, "next_inspection_due": state.next_inspection_due(self.params),
                "end_of_life": state.end_of_life(self.params), "last_event_at": t,
                "state": json.dumps(state.to_dict(), ensure_ascii=False)}  # fmt: skip
        self.codes[owner].append(code)
        return cyl, rows, proj

    def load(self, events: int) -> None:
        """Insert ``events`` events (rounded to whole cylinders)."""
        done = 0
        while done < events:
            cyls, evs, projs = [], [], []
            while len(evs) < CHUNK and done + len(evs) < events:
                owner = "b" if self.n % 10 == 9 else "a"
                cyl, rows, proj = self.cylinder(owner)
                cyls.append(cyl)
                evs.extend(rows)
                projs.append(proj)
            with transaction(self.engine) as s:
                s.execute(insert(Cylinder), cyls)
                s.execute(insert(Event), evs)
                s.execute(insert(CylinderStateRow), projs)
            done += len(evs)
            if done % 200_000 < CHUNK:
                say(f"  loaded {done:,} events")


def fresh_database(backend: str, tmp: Path) -> tuple[str, Any]:
    if backend == "sqlite":
        return f"sqlite:///{tmp / 'fill.sqlite3'}", None
    schema = f"bench_fill_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_DEFAULT.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in PG_DEFAULT else "?"
    return f"{PG_DEFAULT}{sep}options=-csearch_path%3D{schema}", (admin, schema)


def discard(tmp: Path, pg: Any) -> None:
    """Remove what ``fresh_database`` and a run made: the folder (the SQLite file, the
    instance and its keys), and on PostgreSQL the schema."""
    shutil.rmtree(tmp, ignore_errors=True)
    if pg is not None:
        admin, schema = pg
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def run(backend: str, events: int, n_checks: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-fill-"))
    url, pg = fresh_database(backend, tmp)
    try:
        upgrade(url)
        app = create_app({
            "DATABASE_URL": url, "INSTANCE_PATH": str(tmp / "instance"),
            "KEYS_DIR": str(tmp / "keys"), "INTEGRATE_AFTER_WRITE": False, "TESTING": True,
            "LOG_REQUESTS": False,  # the request log goes to stdout, where the table goes
        })  # fmt: skip
        rt = app.extensions["ledger"]
        with app.app_context(), transaction(rt.engine) as s:
            demo = seed(s, rt.authority, rt.now(), tmp / "instance" / "demo.json", history=False)
        t0 = time.perf_counter()
        loader = Loader(rt.engine, demo, rt.now() - dt.timedelta(days=400))
        loader.load(events)
        say(f"{backend}: {loader.n:,} cylinders, {loader.n * loader.per_cylinder:,} events "
            f"loaded in {time.perf_counter() - t0:.0f} s")  # fmt: skip
        if backend == "postgresql":
            with rt.engine.begin() as conn:
                conn.execute(text("ANALYZE"))
        return measure(app, demo, loader, n_checks, backend)
    finally:
        discard(tmp, pg)


def measure(app: Any, demo: dict[str, Any], loader: Loader, n: int, backend: str) -> dict[str, Any]:
    rt = app.extensions["ledger"]
    rng = random.Random(7)
    station = demo["stations"]["a"]
    with transaction(rt.engine) as s:
        actor = registry.actor_for_token(s, demo["tokens"]["station_a"])
    assert actor is not None
    out: dict[str, Any] = {"backend": backend, "events": loader.n * loader.per_cylinder}
    for label, owner in (("allowed", "a"), ("blocked", "b")):
        samples = []
        for i in range(n + 50):
            code = rng.choice(loader.codes[owner])
            t0 = time.perf_counter()
            with transaction(rt.engine) as s, reads_beside(s) as reads:  # as the API calls it
                result = checks.fill_check(
                    s, rt.authority, actor, station, code, rt.now(), rt.params, reads=reads
                )
            if i >= 50:
                samples.append((time.perf_counter() - t0) * 1000)
            assert result.decision.allowed == (owner == "a"), result.decision.codes
        out[f"service_{label}"] = summary(samples)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {demo['tokens']['station_a']}"}
    samples = []
    for i in range(n + 50):
        code = rng.choice(loader.codes["a"])
        t0 = time.perf_counter()
        resp = client.post("/api/v1/fill-checks", json={"station_id": station, "scan": code},
                           headers=headers)  # fmt: skip
        if i >= 50:
            samples.append((time.perf_counter() - t0) * 1000)
        assert resp.status_code == 200
    out["http_allowed"] = summary(samples)
    return out


def summary(samples: list[float]) -> dict[str, float]:
    return {"n": len(samples), "p50_ms": round(statistics.median(samples), 3),
            "p99_ms": round(pct(samples, 0.99), 3), "max_ms": round(max(samples), 3)}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="both", choices=["sqlite", "postgresql", "both"])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--checks", type=int, default=3000)
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    load = os.getloadavg()[0]
    print(f"fill-check latency, {args.events:,} events, {args.checks} checks per row; "
          f"load average {load:.2f}; target p99 ≤ {TARGET_P99_MS} ms server-side")  # fmt: skip
    print(f"{'backend':<11}{'path':<18}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}  target")
    for backend in backends:
        say(f"{backend}: loading {args.events:,} events …")
        result = run(backend, args.events, args.checks)
        for path in ("service_allowed", "service_blocked", "http_allowed"):
            r = result[path]
            met = (
                ""
                if path.startswith("http")
                else ("met" if r["p99_ms"] <= TARGET_P99_MS else "NOT met")
            )
            figures = f"{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}{r['max_ms']:>9.2f}"
            print(f"{backend:<11}{path:<18}{figures}  {met}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
