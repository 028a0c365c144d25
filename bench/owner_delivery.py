#!/usr/bin/env python
"""What the owners' webhook delivery costs the database: one run over a backlog.

    .venv/bin/python bench/owner_delivery.py [--owners 200] [--backlog 20000] [--big 5000]

A fresh PostgreSQL schema (``BENCH_DATABASE_URL``) at head gets ``--owners`` owners with a
webhook and ``--backlog`` undelivered notifications queued for them: ``--big`` of them for
one owner (a first sweep of an old fleet), the rest spread evenly. Then one run of
``ledger.owner_delivery.deliver_to_owners`` against a receiver that answers at once (every
other owner's third notification refused, so failed rows stay in the backlog), and a
second run over what is left. Printed: rows sent, the run's time per row (reading and
recording each outcome: the receiver costs nothing), and the reads apart.
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
SELECT g, CASE WHEN g <= :big THEN 1 ELSE 2 + (g % (:owners - 1)) END,
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
    """Answers at once: 204, but 422 to every third notification of even owners."""

    def __init__(self) -> None:
        self.sent = 0

    def __call__(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        self.sent += 1
        nid = int(headers["Idempotency-Key"].removeprefix("notification-"))
        owner = int(url.removeprefix("https://oa").split(".")[0])
        return 422 if owner % 2 == 0 and nid % 3 == 0 else 204


def run(engine: Engine, label: str) -> None:
    reads: list[float] = []
    opened = owner_delivery.transaction

    @contextlib.contextmanager
    def timed(engine: Engine, write: bool = True) -> Iterator[Session]:
        t0 = time.perf_counter()
        with opened(engine, write=write) as session:
            yield session
        if not write:  # a round read (the writes record one outcome each)
            reads.append(time.perf_counter() - t0)

    owner_delivery.transaction = timed  # type: ignore[assignment]
    receiver = Receiver()
    t0 = time.perf_counter()
    try:
        done = owner_delivery.deliver_to_owners(engine, receiver, NOW, budget=3600.0)
    finally:
        owner_delivery.transaction = opened
    took = time.perf_counter() - t0
    per_row = 1000 * took / max(receiver.sent, 1)
    print(
        f"{label}: {receiver.sent:,} POSTs ({done.delivered:,} delivered, {done.failed:,}"
        f" refused) in {took:.1f} s, {per_row:.2f} ms a row; {len(reads)} reads (the run's"
        f" order, then each batch) in"
        f" {sum(reads):.1f} s (median {1000 * statistics.median(reads):.0f} ms,"
        f" slowest {1000 * max(reads):.0f} ms)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--owners", type=int, default=200)
    parser.add_argument("--backlog", type=int, default=20_000)
    parser.add_argument("--big", type=int, default=5_000)
    args = parser.parse_args()
    with bench_schema("bench_owners") as url:
        upgrade(url)
        engine = make_engine(url)
        with engine.begin() as conn:
            for sql in FILL.split(";"):
                if sql.strip():
                    params = {"n": args.backlog, "big": args.big, "owners": args.owners}
                    conn.execute(text(sql), params)
        print(
            f"{args.backlog:,} notifications waiting for {args.owners} owners' webhooks,"
            f" {args.big:,} of them for one owner"
        )
        run(engine, "first run")
        run(engine, "second run (the refused ones)")
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
