#!/usr/bin/env python
"""A web worker's memory as it draws labels, through gunicorn (issue 7's 150 MB budget).

    .venv/bin/python bench/label_memory.py [--backend sqlite|postgresql] [--rounds 20]

One gunicorn worker (gunicorn.conf.py's settings otherwise) serves the ledger on a fresh
database with the small demo (``bench/load.py``'s ``prepare``). Requests go one at a time
with enterprise A's token, and the worker's resident memory (psutil RSS) is printed after
each step: start; 200 fill checks; a label PNG; a label SVG; a 24-label A4 sheet (PDF);
a 480-label sheet (the API's largest); then ``--rounds`` more rounds of PNG + SVG + 24-label
sheet, each on cylinders not drawn before, to show whether memory keeps growing. The
time of each step's request is printed too (one request: a figure to read, not a target).
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # not bench/: bench/ledger.py would shadow the ledger package

from bench.load import TARGET_RSS_MB, Gunicorn, drop_schema, prepare  # noqa: E402


def main() -> None:
    """Start one worker, draw labels step by step, print its memory after each step."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    import httpx

    with tempfile.TemporaryDirectory(prefix="bench-label-memory-") as tmpdir:
        tmp = Path(tmpdir)
        env, demo, schema = prepare(args.backend, tmp / args.backend)
        server = Gunicorn("wsgi:app", env, 1, 4, tmp)
        try:
            owner = {"Authorization": f"Bearer {demo['tokens']['enterprise_a']}"}
            station = {"Authorization": f"Bearer {demo['tokens']['station_a']}"}
            codes = demo["codes"]["allowed"]  # enterprise A's 200 cylinders
            http = httpx.Client(base_url=server.url, timeout=120)

            def step(name: str, send: Callable[[], Any]) -> None:
                start = time.perf_counter()
                resp = send()
                ms = (time.perf_counter() - start) * 1000
                if resp.status_code != 200:
                    raise SystemExit(f"{name}: {resp.status_code} {resp.text[:300]}")
                print(
                    f"{name:<34} {server.rss_mb():7.1f} MB  {ms:8.1f} ms  {len(resp.content):>9,} B"
                )

            def label(code: str, kind: str) -> Callable[[], Any]:
                return lambda: http.get(f"/api/v1/cylinders/{code}/label.{kind}", headers=owner)

            def sheet(batch: list[str]) -> Callable[[], Any]:
                body = {"codes": batch}
                return lambda: http.post("/api/v1/labels/sheet", json=body, headers=owner)

            print(f"{'step':<34} {'worker RSS':>10}  {'request':>11}  {'size':>11}")
            print(f"{'started':<34} {server.rss_mb():7.1f} MB")
            for code in codes:
                body = {"station_id": demo["stations"]["a"], "scan": code}
                http.post("/api/v1/fill-checks", json=body, headers=station)
            print(f"{'after 200 fill checks':<34} {server.rss_mb():7.1f} MB")
            step("first label PNG", label(codes[0], "png"))
            step("first label SVG", label(codes[0], "svg"))
            step("first 24-label sheet (PDF)", sheet(codes[:24]))
            step("480-label sheet (PDF)", sheet((codes * 3)[:480]))
            for i in range(args.rounds):
                code = codes[(24 + i) % len(codes)]
                step(f"round {i + 1}: PNG", label(code, "png"))
                step(f"round {i + 1}: SVG", label(code, "svg"))
                step(f"round {i + 1}: 24-label sheet", sheet(codes[24 + i :][:24]))
            print(f"budget: {TARGET_RSS_MB:.0f} MB a worker")
        finally:
            server.stop()
            if schema:
                drop_schema(schema)


if __name__ == "__main__":
    main()
