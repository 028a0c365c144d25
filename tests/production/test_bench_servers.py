"""bench/load.py's servers start under the production gunicorn.conf.py (its on_starting
imports the ledger package, which bench/ledger.py must not shadow: it did once, and
``bench/load.py`` stopped at "gunicorn exited with 1" before measuring anything)."""

from __future__ import annotations

from pathlib import Path

import httpx

from bench.load import HELLO, Gunicorn


def test_the_hello_world_server_of_the_load_bench_starts_and_answers(tmp_path: Path) -> None:
    server = Gunicorn(HELLO, {}, workers=1, threads=1, tmp=tmp_path)
    try:
        answer = httpx.post(server.url + "/api/v1/fill-checks", timeout=10)
    finally:
        server.stop()
    assert answer.status_code == 200 and answer.text == "hello world"
    assert [p.name[:5] for p in tmp_path.iterdir()] == ["prom-"]  # its metrics, in tmp
