#!/usr/bin/env python
"""An event looked up by id on a partitioned ``events``, without and with ``event_ids``
(migration 0012), and what the id registration costs an insert (PostgreSQL).

    .venv/bin/python bench/event_ids.py [--events 200000] [--months 120] [--lookups 2000]

A fresh schema at 0011 gets ``--events`` synthetic events recorded over ``--months``
months (one partition each, as ``ledger partitions`` keeps them), timed; then the upgrade
to 0012 (filling ``event_ids``) is timed, and three more batches of as many events are
inserted, timed: with the registering trigger, without it (disabled for that batch, whose
ids are then not registered: no matter here), and with it again. Then ``--lookups``
look-ups of a registered id and of an unknown id (what every append with a fresh
Idempotency-Key asks), each way: by id alone, as before 0012 (one index probe per month),
and ``ledger.event_ids.stored_event``. Last, what ``ledger audit``'s comparison of
``event_ids`` with ``events`` costs, and ``ledger register-event-ids`` registering the batch
inserted without the trigger. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # not bench/: bench/ledger.py would shadow the ledger package

from sqlalchemy import Engine, select, text  # noqa: E402
from sqlmodel import Session, col  # noqa: E402

from bench.partition_migration import FILL, PAYLOAD, REGISTRY, bench_schema  # noqa: E402
from ledger import event_ids, partitions  # noqa: E402
from ledger.event_ids import stored_event  # noqa: E402
from ledger.model import Event  # noqa: E402
from ledger.store import make_engine, upgrade  # noqa: E402

PG = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
BATCH = FILL.replace("md5(g::text)", "md5((g + :off)::text)").replace(
    "g, 'filled'", "g + :off, 'filled'"
)
SWITCH = "ALTER TABLE events {} TRIGGER events_register_id"


def by_id_alone(session: Session, event_id: str) -> Event | None:
    """The look-up before 0012."""
    query = select(Event).where(col(Event.id) == event_id)
    found: Event | None = session.execute(query).scalars().first()
    return found


def timed(engine: Engine, how: Callable[[Session, str], Event | None], ids: list[str]) -> str:
    times = []
    with Session(engine) as session:
        for event_id in ids:
            t0 = time.perf_counter()
            how(session, event_id)
            times.append((time.perf_counter() - t0) * 1000)
            session.expunge_all()
    times.sort()
    p99 = times[int(len(times) * 0.99) - 1]
    return f"mean {statistics.fmean(times):.3f} ms, p99 {p99:.3f} ms"


def mend(engine: Engine) -> None:
    """What the audit's comparison and the repair cost: the batch inserted without the
    trigger is what they find and register."""
    with Session(engine) as session:
        t0 = time.perf_counter()
        found = event_ids.drift(session)
        seconds = time.perf_counter() - t0
    print(f"audit's drift (event_ids against events): {seconds:.1f} s, "
          f"{found.counts['unregistered']:,} unregistered found")  # fmt: skip
    with Session(engine) as session, session.begin():
        t0 = time.perf_counter()
        added = event_ids.register_missing(session)
        seconds = time.perf_counter() - t0
    print(f"ledger register-event-ids: {added:,} registered in {seconds:.1f} s")
    with Session(engine) as session:
        t0 = time.perf_counter()
        left = event_ids.drift(session)
        seconds = time.perf_counter() - t0
    print(f"audit's drift again: {seconds:.1f} s, in step: {not left}")
    with Session(engine) as session:
        for kind, sql in event_ids.KINDS.items():
            t0 = time.perf_counter()
            plan = session.execute(text(f"EXPLAIN (ANALYZE, COSTS OFF) {sql}")).scalars().all()
            print(f"  {kind:13} {time.perf_counter() - t0:5.1f} s  {plan[0].strip()[:90]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--months", type=int, default=120)
    parser.add_argument("--lookups", type=int, default=2000)
    args = parser.parse_args()
    span = args.months * 30.4 * 86400
    fill = {"n": args.events, "span": span, "payload": PAYLOAD}
    with bench_schema("bench_ids") as url:
        upgrade(url, "0011")
        engine = make_engine(url)
        with engine.begin() as conn:
            for sql in REGISTRY:
                conn.exec_driver_sql(sql)
            now = dt.datetime.now(dt.UTC)
            since = now - dt.timedelta(seconds=span)
            partitions.ensure_partitions(conn, now, since=since)
            t0 = time.perf_counter()
            conn.execute(text(FILL), fill)
            before = time.perf_counter() - t0
            conn.exec_driver_sql("ANALYZE events")
        t0 = time.perf_counter()
        upgrade(url, "0012")
        up = time.perf_counter() - t0
        per_row: dict[str, list[float]] = {"with": [], "without": []}
        for i, registering in enumerate((True, False, True)):  # the table grows: with twice
            with engine.begin() as conn:
                if not registering:
                    conn.exec_driver_sql(SWITCH.format("DISABLE"))
                t0 = time.perf_counter()
                conn.execute(text(BATCH), {**fill, "off": (i + 1) * args.events})
                per_row["with" if registering else "without"].append(
                    (time.perf_counter() - t0) / args.events * 1e6
                )
                if not registering:
                    conn.exec_driver_sql(SWITCH.format("ENABLE"))
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE events")
            conn.exec_driver_sql("ANALYZE event_ids")
            months = len(partitions.list_partitions(conn))
            stored = list(
                conn.execute(
                    text("SELECT id FROM event_ids ORDER BY random() LIMIT :k"),
                    {"k": args.lookups},
                ).scalars()
            )
        unknown = [str(uuid.uuid4()) for _ in range(args.lookups)]
        n = args.events
        load = os.getloadavg()[0]
        print(f"{4 * n:,} events in {months} partitions; {os.cpu_count()} cores, load {load:.1f}")
        print(f"insert {n:,} at 0011: {before:.1f} s ({before / n * 1e6:.1f} µs a row)")
        print(f"upgrade 0011→0012 (fills event_ids): {up:.1f} s")
        rates = {k: " and ".join(f"{v:.1f}" for v in vs) for k, vs in per_row.items()}
        print(
            f"then {n:,} at a time, in turn with, without and with the registering trigger: "
            f"{rates['with']} µs a row with it, {rates['without']} without"
        )
        for label, how in (
            ("by id alone (before)", by_id_alone),
            ("stored_event (0012)", stored_event),
        ):
            for kind, ids in (("stored", stored), ("unknown", unknown)):
                print(f"{label:22} {kind:8} {timed(engine, how, ids)}")
        mend(engine)
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
