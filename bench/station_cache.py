#!/usr/bin/env python
"""What storing a full sync costs the station PC (``scanner.cache.StationCache.store_sync``).

    .venv/bin/python bench/station_cache.py [--cylinders 85000] [--code DIR]

A sync document of ``--cylinders`` synthetic states (one registered state with its ids,
codes, times and weights varied) is stored in a fresh cache file as the station does it:
written to the cache's scratch file, read through once (``scanner.sync_file.SyncFile``),
then stored from the file; printed, each step's peak allocation (tracemalloc) and time. A
checkout from before scanner/sync_file.py (``--code``) parses the text whole and stores
the parsed document: printed, its size in memory, what ``store_sync`` allocates at its
peak above that, and the times.
``--code`` names the checkout whose ``scanner`` and ``ledger`` are used (default this one;
e.g. an export of ``main`` for the figure before). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import random
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

PARSER = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
PARSER.add_argument("--cylinders", type=int, default=85_000)
PARSER.add_argument("--code", default=str(Path(__file__).resolve().parent.parent))
ARGS = PARSER.parse_args()
# The checkout's packages, not bench/ledger.py (the script's folder comes first on the path).
sys.path.insert(0, str(Path(ARGS.code).resolve()))

import scanner.cache  # noqa: E402
from ledger.state import registered  # noqa: E402
from scanner.cache import StationCache  # noqa: E402

REGISTRATION = {
    "code": "X", "serial": "S", "manufacturer": "浙江金盾压力容器有限公司",
    "manufactured_on": "2022-05-01", "model": "YSP35.5", "capacity_kg": 15.0, "tare_kg": 16.8,
    "dual_phase": False, "owner": 1, "last_inspected_on": None, "service_life_years": None,
}  # fmt: skip


def document(cylinders: int) -> str:
    """A sync document's JSON text with ``cylinders`` states."""
    base, rnd = registered("id", REGISTRATION, dt.datetime.now(dt.UTC)).to_dict(), random.Random(1)
    start = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)

    def when() -> str:
        return (start - dt.timedelta(seconds=rnd.randrange(10**8))).isoformat()

    states = [
        {
            **base,
            "cylinder_id": str(uuid.UUID(int=rnd.getrandbits(128))),
            "code": f"A{rnd.getrandbits(40):012X}",
            "last_filled_at": when(),
            "last_event_at": when(),
            "seq": rnd.randrange(300),
            "last_net_kg": round(rnd.uniform(14, 15.2), 2),
        }
        for _ in range(cylinders)
    ]
    doc = {
        "cylinders": states, "deny": [], "enterprises": {}, "generated_at": start.isoformat(),
        "jurisdiction": {}, "registry_key": base64.b64encode(bytes(32)).decode(),
        "retired_codes": [], "retired_cylinders": {}, "station": {"id": 1},
    }  # fmt: skip
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def main(args: Any = ARGS) -> None:
    body = document(args.cylinders).encode()
    print(f"scanner.cache from {scanner.cache.__file__}")
    print(f"document: {len(body) / 1e6:.1f} MB of JSON, {args.cylinders:,} states")
    with tempfile.TemporaryDirectory() as tmp:
        cache = StationCache(Path(tmp) / "station.sqlite3")
        if hasattr(cache, "scratch_file"):
            _from_file(cache, body)
        else:
            _parsed_whole(cache, body)


def _parsed_whole(cache: Any, body: bytes) -> None:
    """Before scanner/sync_file.py: the answer parsed whole, then stored."""
    tracemalloc.start()
    started = time.perf_counter()
    doc = json.loads(body)
    parsing = time.perf_counter() - started
    parsed, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    started = time.perf_counter()
    cache.store_sync(doc, dt.datetime.now(dt.UTC))
    took = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"parsed whole: {parsed / 2**20:.0f} MiB in memory, {parsing:.2f} s")
    print(f"store_sync: peak {(peak - parsed) / 2**20:.1f} MiB above it, {took:.2f} s")


def _from_file(cache: Any, body: bytes) -> None:
    """The answer written to the cache's scratch file as the client does, read through
    once (``SyncFile.check``, outside the station's lock), then stored from the file."""
    from scanner.sync_file import SyncFile

    with cache.scratch_file() as file:
        file.write(body)
        tracemalloc.start()
        started = time.perf_counter()
        answer = SyncFile.check(file)
        checking = time.perf_counter() - started
        checked, peak = tracemalloc.get_traced_memory()
        mib = 2**20
        kept = f"kept {checked / mib:.2f} MiB"
        print(f"SyncFile.check: peak {peak / mib:.1f} MiB, {checking:.2f} s, {kept}")
        tracemalloc.reset_peak()
        started = time.perf_counter()
        now, rows = dt.datetime.now(dt.UTC), answer.state_rows()
        cache.store_sync(answer.rest, now, state_rows=rows)
        took = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    print(
        f"store_sync from the file: peak {(peak - checked) / 2**20:.1f} MiB above it, {took:.2f} s"
    )


if __name__ == "__main__":
    main()
