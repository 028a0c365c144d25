#!/usr/bin/env python
"""How long migration 0006 (events partitioned by month) takes, up and down (PostgreSQL).

    .venv/bin/python bench/partition_migration.py [--events 1000000] [--months 12]

A fresh schema at 0005 gets ``--events`` synthetic events (one cylinder, rows made by
``generate_series``, recorded over ``--months`` months: the rows' contents do not matter
to the copy, only their number and size, ~330 bytes each like the loader's), then is
upgraded to 0006 and downgraded back, each timed. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # not bench/: bench/ledger.py would shadow the ledger package

from alembic import command  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from ledger.store import alembic_config, make_engine, upgrade  # noqa: E402

PG = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")

REGISTRY = (
    "INSERT INTO enterprises (id, name, blacklisted, created_at) VALUES (1, 'b', false, now())",
    "INSERT INTO actors (id, name, role, kind, active, created_at) "
    "VALUES (1, 'bench', 'admin', 'person', true, now())",
    "INSERT INTO cylinders (id, code, serial, manufacturer, manufactured_on, model, capacity_kg, "
    "tare_kg, dual_phase, owner_id, registered_at, head_seq, head_hash) VALUES ('c', 'BENCH', "
    "'s', 'bench', '2024-01-01', 'YSP35.5', 15, 16.8, false, 1, now(), 0, '\\x00')",
)
FILL = """
INSERT INTO events (id, cylinder_id, seq, type, occurred_at, recorded_at, actor_id, payload,
    prev_hash, hash, key_id, signature)
SELECT md5(g::text)::uuid::text, 'c', g, 'filled', t, t, 1,
    :payload,
    sha256(int8send(g - 1)), sha256(int8send(g)), 'bench', sha256(int8send(-g)) || sha256(''::bytea)
FROM generate_series(1, :n) g,
     LATERAL (SELECT now() - make_interval(secs => (:span * g / :n)::double precision)) AS s(t)
"""
PAYLOAD = '{"gross_kg":31.8,"net_kg":15.0,"station_id":1,"tare_kg":16.8}'


@contextmanager
def bench_schema(prefix: str) -> Iterator[str]:
    """A fresh PostgreSQL schema of ``BENCH_DATABASE_URL``, dropped afterwards; its URL."""
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{PG}{'&' if '?' in PG else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--months", type=int, default=12)
    args = parser.parse_args()
    with bench_schema("bench_part") as url:
        upgrade(url, "0005")
        engine = make_engine(url)
        t0 = time.perf_counter()
        with engine.begin() as conn:
            for sql in REGISTRY:
                conn.exec_driver_sql(sql)
            span = args.months * 30.4 * 86400
            conn.execute(text(FILL), {"n": args.events, "span": span, "payload": PAYLOAD})
            conn.exec_driver_sql("ANALYZE events")
        print(f"filled {args.events:,} events at 0005 in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        upgrade(url, "0006")
        up = time.perf_counter() - t0
        with engine.connect() as conn:
            parts = conn.execute(
                text("SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass")
            ).scalar_one()
            rows = conn.execute(text("SELECT count(*) FROM events")).scalar_one()
        t0 = time.perf_counter()
        command.downgrade(alembic_config(url), "0005")
        down = time.perf_counter() - t0
        print(
            f"upgrade 0005→0006: {up:.1f} s ({rows:,} rows into {parts} partitions); "
            f"downgrade 0006→0005: {down:.1f} s; {os.cpu_count()} cores, "
            f"load {os.getloadavg()[0]:.1f}"
        )
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
