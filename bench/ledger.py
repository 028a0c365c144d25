#!/usr/bin/env python
"""Benchmarks of the cylinder ledger on SQLite and PostgreSQL.

    .venv/bin/python bench/ledger.py [--backend sqlite|postgresql|both]
                                     [--sizes 10000,100000,1000000] [--quick]
                                     [--profile [SECTIONS]] [--json PATH]

1. appends/s through the service: (a) one event per transaction, (b) many events per
   transaction, (c) the HTTP API through Flask's test client (INTEGRATE_AFTER_WRITE off/on);
2. integration leaves/s (ledger.log.integrate) over bulk-loaded pending events;
3. inclusion-proof latency p50/p99 at each size (2000 random leaves of the full tree);
4. audit events/s (ledger.audit.audit, all cores) over a properly signed ledger.

Every backend works in fresh databases (a temp SQLite file; a fresh PostgreSQL schema,
dropped at the end) and never touches an existing one. See bench/README.md for what
each figure includes and how the synthetic log of section 2/3 is made.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import hashlib
import io
import json
import math
import os
import platform
import pstats
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# This file is called ledger.py: running it puts bench/ first on sys.path, where it would
# shadow the ledger package. Drop that entry and put the repository root first instead.
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or os.getcwd()).resolve() != HERE]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from sqlalchemy import column, create_engine, insert, text  # noqa: E402
from sqlalchemy import inspect as sa_inspect  # noqa: E402
from sqlalchemy import table as sa_table  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from ledger import log, merkle, registry, service  # noqa: E402
from ledger.audit import PARALLEL_THRESHOLD, audit  # noqa: E402
from ledger.authority import Authority, ensure_server_key  # noqa: E402
from ledger.chain import fields_of  # noqa: E402
from ledger.events import (  # noqa: E402
    ZERO_HASH,
    EventFields,
    event_hash,
    payload_text,
    signing_message,
)
from ledger.ids import new_id  # noqa: E402
from ledger.model import Actor, Cylinder, Event, Role  # noqa: E402
from ledger.note import verifier_from_key, verifier_key_for  # noqa: E402
from ledger.store import make_engine, transaction, upgrade  # noqa: E402

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
ORIGIN = "bench.ledger.test/log"
APPEND_TYPE = "reported"  # what §1 appends (see ServiceLedger.payload)
BASE_URL = "https://bench.ledger.test"
OUT = HERE / "out"  # git-ignored: profiles and JSON results

TARGETS = {
    "integration": 100_000,  # leaves/s
    "proof_p99_ms": 2.0,  # p99 at 1M leaves
    "proof_ratio": 2.0,  # p99 at 1M over p99 at 10k
    "audit": 10_000,  # events/s
    "appends_pg": 1_000,  # single-client appends/s on PostgreSQL
}

err = Console(stderr=True, highlight=False, soft_wrap=True)


def say(msg: str) -> None:
    """Progress goes to stderr so that stdout carries only the tables."""
    err.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {msg}")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- results ---------------------------------------------------------------------------


@dataclass
class Row:
    backend: str
    section: str
    metric: str
    value: float
    unit: str  # "/s" for rates, "ms" for latencies, "" for counts and ratios
    detail: str = ""
    target: str = ""
    ok: bool | None = None  # None: no target

    def shown(self) -> str:
        if self.unit == "/s":
            return f"{self.value:,.0f} /s"
        if self.unit == "ms":
            return f"{self.value:.3f} ms"
        if self.unit == "x":
            return f"{self.value:.2f}×"
        if self.unit == "s":
            return f"{self.value:.2f} s"
        return f"{self.value:,.0f}"


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        verdict = (
            ""
            if row.ok is None
            else ("  [green]meets[/green]" if row.ok else "  [red]MISSES[/red]")
        )
        say(
            f"[bold]{row.backend}[/bold] {row.section} {row.metric}: {row.shown()}"
            f"{'  (' + row.detail + ')' if row.detail else ''}"
            f"{'  target ' + row.target if row.target else ''}{verdict}"
        )
        return row


def pct(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1)."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def latency_text(samples: list[float], digits: int = 2, count: bool = True) -> str:
    """(n,) p50 and p99 of latencies in seconds, shown in ms."""
    p50, p99 = pct(samples, 0.5) * 1e3, pct(samples, 0.99) * 1e3
    text = f"p50 {p50:.{digits}f} ms, p99 {p99:.{digits}f} ms"
    return f"n={len(samples)}, {text}" if count else text


# --- profiling -------------------------------------------------------------------------


class Profiling:
    def __init__(self, sections: set[str] | None, top: int) -> None:
        self.sections = sections  # None: off
        self.top = top

    def on(self, section: str) -> bool:
        return self.sections is not None and ("all" in self.sections or section in self.sections)

    @contextmanager
    def __call__(self, section: str, name: str) -> Iterator[None]:
        if not self.on(section):
            yield
            return
        prof = cProfile.Profile()
        prof.enable()
        try:
            yield
        finally:
            prof.disable()
            OUT.mkdir(parents=True, exist_ok=True)
            path = OUT / f"{name}.prof"
            prof.dump_stats(path)
            for key in ("tottime", "cumulative"):
                buf = io.StringIO()
                stats = pstats.Stats(prof, stream=buf)
                stats.strip_dirs().sort_stats(key).print_stats(self.top)
                body = buf.getvalue()
                body = body[body.find("   ncalls") :] if "   ncalls" in body else body
                err.print(
                    f"[bold]profile {name} by {key}[/bold] (full stats: {path})", highlight=False
                )
                err.out(body, highlight=False)


# --- databases -------------------------------------------------------------------------


class Databases:
    """Fresh, migrated databases of one backend; all removed by close()."""

    def __init__(self, backend: str, tmp: Path, pg_url: str) -> None:
        self.backend, self.tmp, self.pg_url = backend, tmp, pg_url
        self.schemas: list[str] = []
        self.admin: Engine | None = None
        if backend == "postgresql":
            self.admin = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1))

    def fresh(self, label: str) -> str:
        if self.backend == "sqlite":
            url = f"sqlite:///{self.tmp / f'{label}.sqlite3'}"
        else:
            assert self.admin is not None
            schema = f"bench_{label}_{uuid.uuid4().hex[:10]}"
            with self.admin.begin() as conn:
                conn.execute(text(f"CREATE SCHEMA {schema}"))
            self.schemas.append(schema)
            sep = "&" if "?" in self.pg_url else "?"
            url = f"{self.pg_url}{sep}options=-csearch_path%3D{schema}"
        upgrade(url)
        return url

    def close(self) -> None:
        if self.admin is None:
            return
        for schema in self.schemas:
            with self.admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            say(f"dropped schema {schema}")
        self.admin.dispose()


# --- 1 and 4: a ledger written through the service -------------------------------------


def cylinder_body() -> dict[str, Any]:
    return {
        "serial": f"B{uuid.uuid4().hex[:12].upper()}",
        "manufacturer": "浙江金盾压力容器有限公司",
        "manufactured_on": "2022-05-01",
        "model": "YSP35.5",
        "capacity_kg": 15.0,
        "tare_kg": 16.8,
        "dual_phase": False,
        "last_inspected_on": None,
    }


class ServiceLedger:
    """The demo district plus registered cylinders; every event signed by the service."""

    def __init__(self, url: str, tmp: Path, backend: str, cylinders: int) -> None:
        from app.demo import seed
        from app.runtime import build_authority

        self.url = url
        self.keys_dir = tmp / f"keys-{backend}"
        self.instance = tmp / f"instance-{backend}"
        self.authority: Authority = build_authority(self.keys_dir, ORIGIN, BASE_URL)
        self.engine = make_engine(url)
        with transaction(self.engine) as session:
            doc = seed(session, self.authority, now(), self.instance / "demo.json", history=False)
        self.tokens: dict[str, str] = doc["tokens"]
        self.station_id: int = doc["stations"]["a"]
        with transaction(self.engine, write=False) as session:
            filler = registry.actor_for_token(session, self.tokens["station_a"])
            admin = registry.actor_for_token(session, self.tokens["enterprise_a"])
        assert filler is not None and admin is not None
        self.filler: Actor = filler
        self.admin: Actor = admin
        self.codes: list[str] = []
        self.register_seconds = 0.0
        t0 = time.perf_counter()
        for start in range(0, cylinders, 100):
            with transaction(self.engine) as session:
                for _ in range(min(100, cylinders - start)):
                    cyl, _ = service.register_cylinder(
                        session, self.authority, self.admin, cylinder_body(), now()
                    )
                    self.codes.append(cyl.code)
        self.register_seconds = time.perf_counter() - t0

    def payload(self, i: int) -> dict[str, Any]:
        # Since issue 3 a "filled" needs an allowing fill check first; a station's report
        # takes the same write path (lock, rules, sign, hash, write, project) on its own.
        return {"kind": "label_damaged", "note": f"bench {i % 10}"}

    def code(self, i: int) -> str:
        return self.codes[i % len(self.codes)]

    def append(self, session: Any, i: int) -> None:
        service.append_event(
            session, self.authority, self.filler, self.code(i), APPEND_TYPE, self.payload(i), now()
        )

    def integrate_all(self) -> int:
        total = 0
        while True:
            with transaction(self.engine) as session:
                r = log.integrate(session)
            if r.new_size == r.old_size:
                return total
            total += r.new_size - r.old_size

    def pending(self) -> int:
        """Events waiting in the sequencer's queue."""
        with transaction(self.engine, write=False) as session:
            return int(session.execute(text("SELECT count(*) FROM log_pending")).scalar_one())

    def checkpoint(self) -> None:
        with transaction(self.engine) as session:
            log.publish_checkpoint(session, self.authority.server, self.authority.origin)


def bench_single(led: ServiceLedger, n: int, warmup: int) -> list[float]:
    """One event per transaction; returns per-append latencies (s)."""
    for i in range(warmup):
        with transaction(led.engine) as session:
            led.append(session, i)
    lat = []
    for i in range(n):
        t0 = time.perf_counter()
        with transaction(led.engine) as session:
            led.append(session, i)
        lat.append(time.perf_counter() - t0)
    return lat


def bench_batched(led: ServiceLedger, n: int, per_txn: int) -> float:
    t0 = time.perf_counter()
    done = 0
    while done < n:
        k = min(per_txn, n - done)
        with transaction(led.engine) as session:
            for i in range(done, done + k):
                led.append(session, i)
        done += k
    return time.perf_counter() - t0


def bench_http(led: ServiceLedger, n: int, warmup: int, integrate_after_write: bool) -> list[float]:
    """POST /api/v1/cylinders/{code}/events with one test client; per-request latencies (s)."""
    from app import create_app

    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": led.url,
            "INSTANCE_PATH": str(led.instance),
            "KEYS_DIR": str(led.keys_dir),
            "PUBLIC_BASE_URL": BASE_URL,
            "LEDGER_ORIGIN": ORIGIN,
            "INTEGRATE_AFTER_WRITE": integrate_after_write,
            # The request log (app/logging.py) would go to stdout under TESTING (structlog
            # left unconfigured prints there), where the tables go: off, so the HTTP rows
            # exclude the request log's cost (bench/load.py's figures include it).
            "LOG_REQUESTS": False,
        }
    )
    rt = app.extensions["ledger"]
    assert rt.authority.server_key_id == led.authority.server_key_id
    assert rt.integrate_after_write is integrate_after_write
    client = app.test_client()
    headers = {"Authorization": f"Bearer {led.tokens['station_a']}"}
    lat = []
    try:
        for i in range(warmup + n):
            t0 = time.perf_counter()
            resp = client.post(
                f"/api/v1/cylinders/{led.code(i)}/events",
                headers=headers,
                json={"type": APPEND_TYPE, "payload": led.payload(i)},
            )
            elapsed = time.perf_counter() - t0
            if resp.status_code != 201:
                raise RuntimeError(f"POST event: {resp.status_code} {resp.get_data(as_text=True)}")
            if i >= warmup:
                lat.append(elapsed)
    finally:
        rt.engine.dispose()
    return lat


# --- 2 and 3: a synthetic log, bulk-loaded -----------------------------------------------

CYL_COLS = (
    "id",
    "code",
    "serial",
    "manufacturer",
    "manufactured_on",
    "model",
    "capacity_kg",
    "tare_kg",
    "dual_phase",
    "service_life_years",
    "owner_id",
    "last_inspected_on",
    "next_inspection_due",
    "registered_at",
    "head_seq",
    "head_hash",
)
EVENT_COLS = (
    "id",
    "cylinder_id",
    "seq",
    "type",
    "occurred_at",
    "recorded_at",
    "actor_id",
    "station_id",
    "site_id",
    "payload",
    "prev_hash",
    "hash",
    "key_id",
    "signature",
)
LOAD_CHUNK = 50_000


class SyntheticLog:
    """Events bulk-inserted into events + log_pending, hashed and chained like the service.

    Each event's hash is ledger.events.event_hash of its fields (what ledger.chain.seal
    computes) and links to its predecessor on a cylinder of ``per_cylinder`` events, so
    chains and cylinder heads are consistent. To save time every event carries ONE server
    signature (that of the first event): these events are never audited (the audit runs
    on the service-written ledger of section 4).
    """

    def __init__(self, url: str, authority: Authority, backend: str, per_cylinder: int) -> None:
        self.engine = make_engine(url)
        self.backend = backend
        self.authority = authority
        self.per_cylinder = per_cylinder
        with transaction(self.engine) as session:
            ensure_server_key(session, authority)
            ent = registry.add_enterprise(session, "Bench synthetic gas company")
            st = registry.add_station(session, ent, "Bench station")
            actor, _ = registry.add_actor(
                session, "bench filler", Role.FILLING_OPERATOR, enterprise=ent, station=st
            )
            assert ent.id is not None and st.id is not None and actor.id is not None
            self.owner_id, self.station_id, self.actor_id = ent.id, st.id, actor.id
        self.payload = {"station_id": self.station_id, "gross_kg": 31.8, "net_kg": 15.0}
        self.payload_text = payload_text(self.payload)
        self.key_id = authority.server_key_id
        self.signature: bytes | None = None
        self.events = 0
        self.cylinders = 0
        self.sample_ids: list[str] = []
        # The sequencer's queue as the migrations made it (it may carry a copy of the hash).
        fill = {"event_id": EVENT_COLS.index("id"), "event_hash": EVENT_COLS.index("hash")}
        columns = [c["name"] for c in sa_inspect(self.engine).get_columns("log_pending")]
        self.pending_cols = [c for c in columns if c != "seq"]
        unknown = [c for c in self.pending_cols if c not in fill]
        if unknown:
            raise RuntimeError(f"log_pending has columns this bench cannot fill: {unknown}")
        self.pending_pos = [fill[c] for c in self.pending_cols]
        self.pending_fill = [(c, fill[c]) for c in self.pending_cols]

    def add(self, n: int) -> float:
        """Insert n pending events; returns the seconds spent (hashing + inserting)."""
        t0 = time.perf_counter()
        left = n
        while left:
            k = min(
                max(self.per_cylinder, LOAD_CHUNK // self.per_cylinder * self.per_cylinder), left
            )
            cyl_rows, ev_rows = self._generate(k)
            self._insert(cyl_rows, ev_rows)
            left -= k
        return time.perf_counter() - t0

    def _generate(self, n: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        ts = now()
        made = dt.date(2022, 5, 1)
        cyl_rows: list[tuple[Any, ...]] = []
        ev_rows: list[tuple[Any, ...]] = []
        left = n
        while left:
            m = min(self.per_cylinder, left)
            cid = new_id()
            prev = ZERO_HASH
            for seq in range(1, m + 1):
                eid = new_id()
                fields = EventFields(
                    id=eid,
                    cylinder=cid,
                    type="filled",
                    occurred_at=ts,
                    recorded_at=ts,
                    actor=self.actor_id,
                    station=self.station_id,
                    site=None,
                    payload=self.payload,
                    prev_hash=prev,
                    key_id=self.key_id,
                )
                h = event_hash(fields)
                if self.signature is None:
                    self.signature = self.authority.server.sign(signing_message(fields))
                ev_rows.append(
                    (
                        eid,
                        cid,
                        seq,
                        "filled",
                        ts,
                        ts,
                        self.actor_id,
                        self.station_id,
                        None,
                        self.payload_text,
                        prev,
                        h,
                        self.key_id,
                        self.signature,
                    )
                )
                prev = h
            cyl_rows.append(
                (
                    cid,
                    f"BX{self.cylinders:010d}",
                    f"SYN{self.cylinders:09d}",
                    "Bench synthetic",
                    made,
                    "YSP35.5",
                    15.0,
                    16.8,
                    False,
                    None,
                    self.owner_id,
                    None,
                    None,
                    ts,
                    m,
                    prev,
                )
            )
            self.cylinders += 1
            left -= m
        self.events += n
        self.sample_ids.append(ev_rows[len(ev_rows) // 2][0])
        return cyl_rows, ev_rows

    def _insert(self, cyl_rows: list[tuple[Any, ...]], ev_rows: list[tuple[Any, ...]]) -> None:
        if self.backend == "postgresql":
            raw = self.engine.raw_connection()
            try:
                with raw.cursor() as cur:  # type: ignore[attr-defined]
                    for table, cols, rows in (
                        ("cylinders", CYL_COLS, cyl_rows),
                        ("events", EVENT_COLS, ev_rows),
                    ):
                        with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as cp:
                            for r in rows:
                                cp.write_row(r)
                    # log_pending.seq is a bigserial: COPY order is commit (sequencing) order.
                    names = ", ".join(self.pending_cols)
                    with cur.copy(f"COPY log_pending ({names}) FROM STDIN") as cp:
                        for r in ev_rows:
                            cp.write_row([r[i] for i in self.pending_pos])
                raw.commit()
            finally:
                raw.close()
            return
        with transaction(self.engine) as session:
            session.execute(
                insert(Cylinder), [dict(zip(CYL_COLS, r, strict=True)) for r in cyl_rows]
            )
            session.execute(insert(Event), [dict(zip(EVENT_COLS, r, strict=True)) for r in ev_rows])
            pending = sa_table("log_pending", *(column(c) for c in self.pending_cols))
            session.execute(
                insert(pending),
                [{c: r[i] for c, i in self.pending_fill} for r in ev_rows],
            )

    def analyze(self) -> None:
        """What autovacuum would do after a bulk load (PostgreSQL only)."""
        if self.backend == "postgresql":
            with self.engine.begin() as conn:
                conn.execute(
                    text("ANALYZE cylinders, events, log_pending, log_leaves, merkle_tiles")
                )

    def spot_check(self) -> None:
        """The stored rows recompute to their stored hashes (the bulk load is faithful)."""
        with transaction(self.engine, write=False) as session:
            for eid in self.sample_ids[-5:]:
                ev = session.get(Event, eid)
                assert ev is not None and event_hash(fields_of(ev)) == ev.hash, eid


def integrate_runs(engine: Engine, batch: int) -> list[tuple[int, float]]:
    """log.integrate in its own transaction until nothing is pending: (leaves, seconds)."""
    runs: list[tuple[int, float]] = []
    while True:
        t0 = time.perf_counter()
        with transaction(engine) as session:
            r = log.integrate(session, batch=batch)
        elapsed = time.perf_counter() - t0
        if r.new_size == r.old_size:
            return runs
        runs.append((r.new_size - r.old_size, elapsed))


def proof_latencies(
    engine: Engine, size: int, samples: int, seed: int, warmup: int = 200
) -> tuple[list[float], list[float]]:
    """(per proof with its own read session, proof call alone in one long read session)."""
    rng = random.Random(seed)
    for _ in range(warmup):
        with transaction(engine, write=False) as session:
            log.inclusion_proof(session, rng.randrange(size), size)
    indices = [rng.randrange(size) for _ in range(samples)]
    with_session = []
    for i in indices:
        t0 = time.perf_counter()
        with transaction(engine, write=False) as session:
            log.inclusion_proof(session, i, size)
        with_session.append(time.perf_counter() - t0)
    call_only = []
    with transaction(engine, write=False) as session:
        for i in indices:
            t0 = time.perf_counter()
            log.inclusion_proof(session, i, size)
            call_only.append(time.perf_counter() - t0)
    return with_session, call_only


def verify_proofs(engine: Engine, size: int, count: int, seed: int) -> None:
    rng = random.Random(seed ^ 0x5EED)
    with transaction(engine, write=False) as session:
        root = log.root_at(session, size)
        state = log.log_state(session)
        assert state.size == size and state.root == root, "root_at disagrees with log_state"
        for i in [0, size - 1, *(rng.randrange(size) for _ in range(count - 2))]:
            leaf, path = log.inclusion_proof(session, i, size)
            merkle.verify_inclusion(leaf, i, size, path, root)
            ev = log.leaf_event(session, i)
            assert ev is not None and leaf == merkle.leaf_hash(ev.hash), f"leaf {i}"


# --- one backend -------------------------------------------------------------------------


@dataclass
class Plan:
    sizes: list[int]
    cylinders: int
    single: int
    http: int
    batched: int
    per_txn: int
    warmup: int
    samples: int
    batch: int
    per_cylinder: int
    verify: int


def run_backend(
    backend: str, plan: Plan, res: Results, prof: Profiling, pg_url: str, seed: int
) -> None:
    pg = backend == "postgresql"
    tmp = Path(tempfile.mkdtemp(prefix=f"ledger-bench-{backend}-"))
    dbs = Databases(backend, tmp, pg_url)
    try:
        # --- 1. appends through the service, into a ledger that section 4 audits
        say(f"[bold]{backend}[/bold]: seeding the demo and registering {plan.cylinders} cylinders")
        led = ServiceLedger(dbs.fresh("svc"), tmp, backend, plan.cylinders)
        res.add(
            Row(
                backend,
                "1 setup",
                "register cylinders (100/txn)",
                plan.cylinders / led.register_seconds,
                "/s",
                f"{plan.cylinders} cylinders",
            )
        )
        target = f"≥ {TARGETS['appends_pg']:,}/s" if pg else ""

        def verdict(rate: float) -> bool | None:
            return rate >= TARGETS["appends_pg"] if pg else None

        with prof("appends", f"{backend}-1a-single"):
            lat = bench_single(led, plan.single, plan.warmup)
        rate = len(lat) / sum(lat)
        res.add(
            Row(
                backend,
                "1a",
                "appends, 1 event/txn (service)",
                rate,
                "/s",
                latency_text(lat),
                target,
                verdict(rate),
            )
        )
        led.checkpoint()

        for flag in (False, True):
            if flag:
                led.integrate_all()  # so each request integrates exactly its own event
            name = f"{backend}-1c-http-integrate-{'on' if flag else 'off'}"
            with prof("http", name):
                lat = bench_http(led, plan.http, plan.warmup, flag)
            rate = len(lat) / sum(lat)
            detail = latency_text(lat)
            if flag:
                # Each request integrates with wait=False: it skips when the integrator lock
                # is busy, and a PostgreSQL advisory lock is shared by every schema of the
                # database (other ledgers, test runs).
                detail += f"; {led.pending()} left pending"
            res.add(
                Row(
                    backend,
                    "1c",
                    f"appends, HTTP, INTEGRATE_AFTER_WRITE={flag}",
                    rate,
                    "/s",
                    detail,
                    target,
                    verdict(rate),
                )
            )
        led.checkpoint()

        with prof("appends", f"{backend}-1b-batched"):
            seconds = bench_batched(led, plan.batched, plan.per_txn)
        res.add(
            Row(
                backend,
                "1b",
                f"appends, {plan.per_txn} events/txn (service)",
                plan.batched / seconds,
                "/s",
                f"n={plan.batched}",
            )
        )

        # --- 4. audit of that ledger (all properly signed by the service)
        t0 = time.perf_counter()
        integrated = led.integrate_all()
        led.checkpoint()
        say(
            f"{backend}: integrated the remaining {integrated:,} events in "
            f"{time.perf_counter() - t0:.1f} s; auditing"
        )
        verifier = verifier_from_key(verifier_key_for(led.authority.server))
        with prof("audit", f"{backend}-4-audit"):
            t0 = time.perf_counter()
            report = audit(led.engine, verifier, led.authority.origin, workers=None)
            seconds = time.perf_counter() - t0
        if not report.ok:
            raise RuntimeError(f"audit found problems: {report.first()}")
        rate = report.events / seconds
        workers = os.cpu_count() or 1
        label = f"audit, workers=None ({workers} cores)"
        if report.events < PARALLEL_THRESHOLD:  # the audit then ran in one process
            label = f"audit, workers=None (1 process: < {PARALLEL_THRESHOLD:,} events)"
        res.add(
            Row(
                backend,
                "4",
                label,
                rate,
                "/s",
                f"{report.events:,} events, {report.leaves:,} leaves, "
                f"{report.checkpoints} checkpoints, {seconds:.1f} s, ok",
                f"≥ {TARGETS['audit']:,}/s",
                rate >= TARGETS["audit"],
            )
        )
        with prof("audit", f"{backend}-4-audit-serial"):
            t0 = time.perf_counter()
            report = audit(led.engine, verifier, led.authority.origin, workers=1)
            seconds = time.perf_counter() - t0
        res.add(
            Row(
                backend,
                "4",
                "audit, workers=1 (for reference)",
                report.events / seconds,
                "/s",
                f"{seconds:.1f} s",
            )
        )
        led.engine.dispose()

        # --- 2 and 3. integration and inclusion proofs over a synthetic log
        syn = SyntheticLog(dbs.fresh("log"), led.authority, backend, plan.per_cylinder)
        p99_at: dict[int, float] = {}
        all_runs: list[tuple[int, float]] = []
        for size in plan.sizes:
            add = size - syn.events
            say(f"{backend}: bulk-loading {add:,} pending events (tree → {size:,})")
            seconds = syn.add(add)
            syn.analyze()
            syn.spot_check()
            res.add(
                Row(
                    backend,
                    "2 setup",
                    f"bulk load to {size:,} (hash+insert)",
                    add / seconds,
                    "/s",
                    f"{add:,} events, {seconds:.1f} s",
                )
            )
            with prof("integrate", f"{backend}-2-integrate-{size}"):
                runs = integrate_runs(syn.engine, plan.batch)
            leaves = sum(r[0] for r in runs)
            seconds = sum(r[1] for r in runs)
            assert leaves == add, (leaves, add)
            all_runs += runs
            rate = leaves / seconds
            res.add(
                Row(
                    backend,
                    "2",
                    f"integration {size - add:,} → {size:,}",
                    rate,
                    "/s",
                    f"{leaves:,} leaves in {len(runs)} run(s) of ≤{plan.batch:,}, {seconds:.2f} s",
                    f"≥ {TARGETS['integration']:,}/s",
                    rate >= TARGETS["integration"],
                )
            )
            verify_proofs(syn.engine, size, plan.verify, seed)
            with prof("proofs", f"{backend}-3-proofs-{size}"):
                lat, call = proof_latencies(syn.engine, size, plan.samples, seed + size)
            p50, p99 = pct(lat, 0.5) * 1e3, pct(lat, 0.99) * 1e3
            p99_at[size] = p99
            largest = size == plan.sizes[-1]
            res.add(
                Row(
                    backend,
                    "3",
                    f"inclusion proof p50 @ {size:,}",
                    p50,
                    "ms",
                    f"{plan.samples} random leaves, own read session each",
                )
            )
            res.add(
                Row(
                    backend,
                    "3",
                    f"inclusion proof p99 @ {size:,}",
                    p99,
                    "ms",
                    f"call alone: {latency_text(call, 3, count=False)}; {plan.verify} verified",
                    f"≤ {TARGETS['proof_p99_ms']} ms" if largest else "",
                    p99 <= TARGETS["proof_p99_ms"] if largest else None,
                )
            )
        if len(plan.sizes) > 1:
            lo, hi = plan.sizes[0], plan.sizes[-1]
            ratio = p99_at[hi] / p99_at[lo]
            res.add(
                Row(
                    backend,
                    "3",
                    f"p99 @ {hi:,} / p99 @ {lo:,}",
                    ratio,
                    "x",
                    "",
                    f"≤ {TARGETS['proof_ratio']}×",
                    ratio <= TARGETS["proof_ratio"],
                )
            )
        if len(plan.sizes) > 1:
            leaves = sum(r[0] for r in all_runs)
            seconds = sum(r[1] for r in all_runs)
            res.add(
                Row(
                    backend,
                    "2",
                    f"integration, all {leaves:,} leaves",
                    leaves / seconds,
                    "/s",
                    f"{len(all_runs)} runs, {seconds:.1f} s",
                    f"≥ {TARGETS['integration']:,}/s",
                    leaves / seconds >= TARGETS["integration"],
                )
            )
        syn.engine.dispose()
    finally:
        dbs.close()
        shutil.rmtree(tmp, ignore_errors=True)


# --- main ----------------------------------------------------------------------------------


def environment(pg_url: str, backends: list[str]) -> dict[str, str]:
    env = {
        "python": platform.python_version(),
        "cpus": str(os.cpu_count()),
        "machine": platform.machine(),
        "sqlite": sqlite3.sqlite_version,
        "load avg at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    try:
        env["commit"] = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "ledger", "app", "migrations"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        changed = [line[3:] for line in dirty.splitlines()]
        env["uncommitted"] = ", ".join(changed) if changed else "none"
    except (OSError, subprocess.CalledProcessError):
        pass
    # The code measured, whatever git says: a digest of every source file under test.
    digest = hashlib.sha256()
    for path in sorted([*ROOT.glob("ledger/**/*.py"), *ROOT.glob("app/**/*.py")]):
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    env["code digest"] = digest.hexdigest()[:12]
    if "postgresql" in backends:
        eng = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
        with eng.connect() as conn:
            env["postgresql"] = conn.execute(text("SHOW server_version")).scalar_one()
            for name in ("synchronous_commit", "fsync", "shared_buffers"):
                env[f"pg {name}"] = conn.execute(text(f"SHOW {name}")).scalar_one()
        eng.dispose()
        env["pg url"] = pg_url
    return env


def print_tables(
    console: Console,
    res: Results,
    backends: list[str],
    env: dict[str, str],
    argv: str,
    profiling: bool,
    failures: dict[str, str],
) -> None:
    console.print(f"[bold]bench/ledger.py[/bold]  {argv}")
    console.print("  ".join(f"{k}: {v}" for k, v in env.items()))
    if profiling:
        console.print("[yellow]cProfile was on: the timings below are inflated[/yellow]")
    for backend in backends:
        table = Table(title=f"{backend}", title_justify="left", show_lines=False)
        for col, just in (
            ("§", "left"),
            ("metric", "left"),
            ("value", "right"),
            ("target", "left"),
            ("", "left"),
            ("detail", "left"),
        ):
            table.add_column(col, justify=just)  # type: ignore[arg-type]
        for row in (r for r in res.rows if r.backend == backend):
            mark = "" if row.ok is None else ("[green]ok[/green]" if row.ok else "[red]MISS[/red]")
            table.add_row(row.section, row.metric, row.shown(), row.target, mark, row.detail)
        console.print(table)
    graded = [r for r in res.rows if r.ok is not None]
    missed = [r for r in graded if not r.ok]
    console.print(f"targets: {len(graded) - len(missed)} of {len(graded)} met")
    for r in missed:
        console.print(f"  MISSED  {r.backend:<10} {r.metric} = {r.shown()} (target {r.target})")
    for backend, error in failures.items():
        console.print(f"  FAILED  {backend}: {error}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--sizes",
        default="10000,100000,1000000",
        help="tree sizes for integration and proofs (grown in this order)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke check: 10k leaves and small append/audit counts (< 1 min)",
    )
    parser.add_argument("--single", type=int, help="appends for 1a (default 3000; quick 300)")
    parser.add_argument("--http", type=int, help="requests per 1c mode (default 2000; quick 200)")
    parser.add_argument(
        "--batched",
        type=int,
        help="appends for 1b, also the audited ledger (default 100000; quick 5000)",
    )
    parser.add_argument("--per-txn", type=int, default=1000, help="events per transaction in 1b")
    parser.add_argument(
        "--cylinders", type=int, help="cylinders appended to (default 1000; quick 100)"
    )
    parser.add_argument("--samples", type=int, default=2000, help="inclusion proofs per size")
    parser.add_argument("--batch", type=int, default=200_000, help="log.integrate batch")
    parser.add_argument(
        "--per-cylinder",
        type=int,
        default=100,
        help="events per cylinder chain in the synthetic log",
    )
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument(
        "--profile",
        nargs="?",
        const="all",
        default=None,
        metavar="SECTIONS",
        help="cProfile sections (all or a comma list of appends,http,integrate,"
        "proofs,audit); prints the top functions, dumps bench/out/*.prof",
    )
    parser.add_argument("--profile-top", type=int, default=25)
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    # A plain kill still drops the PostgreSQL schemas and temp files (finally blocks run).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()})
    if args.quick:
        sizes = [10_000] if args.sizes == parser.get_default("sizes") else sizes
    q = args.quick
    plan = Plan(
        sizes=sizes,
        cylinders=args.cylinders or (100 if q else 1000),
        single=args.single or (300 if q else 3000),
        http=args.http or (200 if q else 2000),
        batched=args.batched or (5000 if q else 100_000),
        per_txn=args.per_txn,
        warmup=20,
        samples=args.samples,
        batch=args.batch,
        per_cylinder=args.per_cylinder,
        verify=20,
    )
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    pg_url = os.environ.get("BENCH_DATABASE_URL", PG_DEFAULT)
    prof = Profiling(set(args.profile.split(",")) if args.profile else None, args.profile_top)
    env = environment(pg_url, backends)
    argv = " ".join(["bench/ledger.py", *sys.argv[1:]])
    say(f"plan: {plan}")
    res = Results()
    started = time.perf_counter()
    failures: dict[str, str] = {}
    for backend in backends:
        t0 = time.perf_counter()
        try:
            run_backend(backend, plan, res, prof, pg_url, args.seed)
        except Exception as exc:  # report what was measured, then fail at the end
            err.print_exception()
            failures[backend] = f"{type(exc).__name__}: {exc}"
        say(f"{backend} done in {time.perf_counter() - t0:.0f} s")
    out = Console(width=max(160, Console().width), highlight=False)
    print_tables(out, res, backends, env, argv, prof.sections is not None, failures)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    out.print(
        f"total {time.perf_counter() - started:.0f} s; load avg at end {load} "
        f"(on {os.cpu_count()} CPUs: other processes running skew every figure)"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "argv": argv,
                    "env": env,
                    "plan": asdict(plan),
                    "rows": [asdict(r) for r in res.rows],
                    "failures": failures,
                },
                indent=2,
            )
            + "\n"
        )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
