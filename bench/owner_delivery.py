#!/usr/bin/env python
"""What the owners' webhook delivery costs the database, and what dead receivers cost the
others: runs over a backlog on PostgreSQL.

    .venv/bin/python bench/owner_delivery.py [--owners 200] [--backlog 20000] [--big 5000]
        [--lanes 4] [--dead 10] [--wait 2.0] [--budget 30]

A fresh PostgreSQL schema (``BENCH_DATABASE_URL``) at head gets ``--owners`` owners with a
webhook and ``--backlog`` undelivered notifications queued for them: ``--big`` of them for
one owner (a first sweep of an old fleet), the rest spread evenly. Then
``ledger.owner_delivery.deliver_to_owners`` on ``--lanes`` lanes:

1. a run against receivers that answer at once (every other owner's third notification
   refused, so those stay in the backlog): rows sent, the run's time per row (reading,
   recording each outcome: the receivers cost nothing), and the reads apart;
2. a second run over what is left (the refused ones);
3. a fresh backlog where the ``--dead`` owners after the big one hang ``--wait`` seconds on
   every POST then time out, within a ``--budget`` of seconds: how many the healthy owners
   got, first with the dead ones' last attempt unknown, then on the next run (the dead
   served when no other owner can be), each beside ``--lanes 1`` (one POST at a time).

Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # not bench/: bench/ledger.py would shadow the ledger package

from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlmodel import Session  # noqa: E402

from bench.partition_migration import bench_schema  # noqa: E402
from ledger import owner_delivery  # noqa: E402
from ledger.store import make_engine, upgrade  # noqa: E402

NOW = dt.datetime(2026, 12, 6, 8, 0, tzinfo=dt.UTC)
FILL = """
INSERT INTO notifications (id, enterprise_id, cylinder_id, code, kind, due_on, message,
                           created_at, attempts)
SELECT g, CASE WHEN g <= :big OR :owners = 1 THEN 1 ELSE 2 + (g % GREATEST(:owners - 1, 1)) END,
       md5(g::text), lpad(g::text, 12, '0'), 'overdue', DATE '2026-12-01',
       '气瓶已逾期检验 / overdue for inspection', now(), 0
FROM generate_series(1, :n) AS g;
INSERT INTO owner_webhooks (enterprise_id, url, secret, generation, created_at, updated_at,
                            actor_id)
SELECT o, 'https://oa' || o || '.example/hooks', repeat('a', 64), 'g1', now(), now(), 1
FROM generate_series(1, :owners) AS o;
INSERT INTO owner_deliveries (notification_id, enterprise_id, generation, created_at, attempts)
SELECT id, enterprise_id, 'g1', now(), 0 FROM notifications;
ANALYZE notifications; ANALYZE owner_deliveries;
"""


class Receiver:
    """Answers at once: 204, but 422 to every third notification of even owners; the
    ``dead`` owners hang ``wait`` seconds, then time out."""

    def __init__(self, dead: range = range(0), wait: float = 0.0) -> None:
        self.sent, self.healthy, self.dead, self.wait = 0, 0, dead, wait

    def __call__(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        self.sent += 1
        nid = int(headers["Idempotency-Key"].removeprefix("notification-"))
        owner = int(url.removeprefix("https://oa").split(".")[0])
        if owner in self.dead:
            time.sleep(self.wait)
            raise TimeoutError("read timed out")
        self.healthy += 1
        return 422 if owner % 2 == 0 and nid % 3 == 0 else 204


def run(engine: Engine, label: str, lanes: int) -> None:
    reads: list[float] = []
    opened = owner_delivery.transaction

    @contextlib.contextmanager
    def timed(engine: Engine, write: bool = True) -> Iterator[Session]:
        t0 = time.perf_counter()
        with opened(engine, write=write) as session:
            yield session
        if not write:  # the run's order, then each row's before its POST
            reads.append(time.perf_counter() - t0)

    owner_delivery.transaction = timed  # type: ignore[assignment]
    receiver = Receiver()
    t0 = time.perf_counter()
    try:
        done = owner_delivery.deliver_to_owners(engine, receiver, NOW, budget=3600.0, lanes=lanes)
    finally:
        owner_delivery.transaction = opened
    took = time.perf_counter() - t0
    per_row = f", {1000 * took / receiver.sent:.2f} ms a row" if receiver.sent else ""
    print(
        f"{label}: {receiver.sent:,} POSTs ({done.delivered:,} delivered, {done.failed:,}"
        f" refused) in {took:.1f} s{per_row}; the run's order read in"
        f" {1000 * reads[0]:.0f} ms, each row's before its POST in"
        f" {1000 * statistics.median(reads[1:] or [0.0]):.2f} ms (median)"
    )


def dead_receivers(engine: Engine, args: argparse.Namespace) -> None:
    dead = range(2, 2 + args.dead)
    for lanes in (args.lanes, 1):
        with engine.begin() as conn:
            conn.exec_driver_sql("TRUNCATE notifications, owner_deliveries, owner_webhooks")
        fill(engine, args)
        for label in ("a run", "the next run"):
            receiver = Receiver(dead, args.wait)
            t0 = time.perf_counter()
            owner_delivery.deliver_to_owners(engine, receiver, NOW, budget=args.budget, lanes=lanes)
            print(
                f"{args.dead} dead (hanging {args.wait} s), {lanes} lane(s), {label}:"
                f" {receiver.healthy:,} POSTs to the healthy owners,"
                f" {receiver.sent - receiver.healthy} to the dead, in"
                f" {time.perf_counter() - t0:.1f} s (budget {args.budget} s)"
            )


def fill(engine: Engine, args: argparse.Namespace) -> None:
    with engine.begin() as conn:
        for sql in FILL.split(";"):
            if sql.strip():
                params = {"n": args.backlog, "big": args.big, "owners": args.owners}
                conn.execute(text(sql), params)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--owners", type=int, default=200)
    parser.add_argument("--backlog", type=int, default=20_000)
    parser.add_argument("--big", type=int, default=5_000)
    parser.add_argument("--lanes", type=int, default=owner_delivery.LANES)
    parser.add_argument("--dead", type=int, default=10)
    parser.add_argument("--wait", type=float, default=2.0)
    parser.add_argument("--budget", type=float, default=30.0)
    args = parser.parse_args()
    with bench_schema("bench_owners") as url:
        upgrade(url)
        engine = make_engine(url)
        fill(engine, args)
        print(
            f"{args.backlog:,} notifications waiting for {args.owners} owners' webhooks,"
            f" {args.big:,} of them for one owner"
        )
        run(engine, "first run", args.lanes)
        run(engine, "second run (the refused ones)", args.lanes)
        dead_receivers(engine, args)
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
