#!/usr/bin/env python
"""What one fill check costs the app, without HTTP: Flask's WSGI callable in one process.

    .venv/bin/python bench/request_cost.py [--requests 1000] [--profile 40]
                                           [--backend sqlite|postgresql]

The production app (``wsgi:app`` built from the environment, every hook, the JSON request
log written to stderr as in production but with stderr on /dev/null while the rows run,
the metrics, the background integrator) on a seeded ledger (SQLite, or a schema of its
own in PostgreSQL at ``BENCH_DATABASE_URL``, dropped at the end) prepared as
bench/load.py prepares it; each row's requests are called straight through the WSGI
callable after 30 warm-ups, and the mean wall-clock per request is printed beside
hello-world's. Nothing crosses a socket, so the figures are the app's own cost, the part
of bench/load.py's rows that gunicorn and wrk do not add. ``--profile N`` prints cProfile's
N most expensive functions (cumulative) of each row. As a gunicorn worker does once its
app is loaded (gunicorn.conf.py's ``post_worker_init``), what was made by then is frozen out
of the garbage collector's passes; the last line is what one full ``gc.collect()`` costs
this process after the rows (a worker's heap, with the two small apps beside it), so frozen
and not: the price of Python's occasional full pass and of SQLite's recovery from a
read-only period (``ledger.sqlite_reopen``). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import io
import json
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

WARM_UP = 30

App = Callable[[dict[str, Any], Any], Any]


def _environ(path: str, body: bytes, token: str) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "POST", "PATH_INFO": path, "SERVER_NAME": "bench",
        "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
        "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": "application/json",
        "HTTP_AUTHORIZATION": f"Bearer {token}", "REMOTE_ADDR": "127.0.0.1",
    }  # fmt: skip


def _driver(app: App, path: str, token: str, station: int, codes: list[str]) -> Any:
    """A function calling ``app`` n times, from request number ``start``; it returns the
    statuses."""

    def run(n: int, start: int = 0) -> list[str]:
        statuses: list[str] = []

        def start_response(status: str, _headers: Any, _exc: Any = None) -> None:
            statuses.append(status)

        for i in range(start, start + n):
            scan = codes[i % len(codes)]
            body = json.dumps({"station_id": station, "scan": scan}).encode()
            out = app(_environ(path, body, token), start_response)
            b"".join(out)
            getattr(out, "close", lambda: None)()
        return statuses

    return run


def measure(run: Any, n: int, profile: int) -> tuple[float, str]:
    """Mean ms a request over ``n`` after the warm-up, and the profile's top ``profile``."""
    statuses = run(WARM_UP)
    if not all(s.startswith("200") for s in statuses):
        raise SystemExit(f"the warm-up was not answered 200: {sorted(set(statuses))}")
    started = time.perf_counter()
    run(n, WARM_UP)
    mean_ms = (time.perf_counter() - started) / n * 1000
    report = ""
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
        run(min(n, 300), WARM_UP + n)
        profiler.disable()
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(profile)
        report = text.getvalue()
    return mean_ms, report


@contextlib.contextmanager
def _quiet_output() -> Any:
    """Standard error and output to /dev/null at the descriptor. The request log
    (app/logging.py) writes its JSON lines to stderr as it is at the time of the line, so
    each request still renders and writes its line as in production, just not to a
    terminal; the figures are printed afterwards, on stdout as it was."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    with open(os.devnull, "w") as null:
        for fd in saved:
            os.dup2(null.fileno(), fd)
        try:
            yield
        finally:
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)


def _measure_all(
    tmp: Path, requests: int, profile: int, load: Any, backend: str
) -> list[tuple[str, float, str]]:
    """Prepare the ledger in ``tmp``, build the apps, measure each row."""
    env, demo, schema = load.prepare(backend, tmp)
    try:
        return _measure_rows(tmp, env, demo, requests, profile, load)
    finally:
        # The background integrator takes the last writes first, before the schema or the
        # SQLite file is removed under it (it logged a failure after the figures).
        time.sleep(1.0)
        if schema is not None:
            load.drop_schema(schema)


def _measure_rows(
    tmp: Path, env: dict[str, str], demo: dict[str, Any], requests: int, profile: int, load: Any
) -> list[tuple[str, float, str]]:
    os.environ.update(env)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(tmp / "prometheus")
    (tmp / "prometheus").mkdir()
    os.environ.setdefault("INTEGRATE_AFTER_WRITE", "background")  # as gunicorn.conf.py
    import floor

    token, station = demo["tokens"]["station_a"], demo["stations"]["a"]
    with _quiet_output():  # the request log's JSON lines, written as in production
        from wsgi import app

        gc.collect()  # as gunicorn.conf.py's post_worker_init
        gc.freeze()

        rows = [
            ("hello world", load.hello(), "/api/v1/fill-checks", "allowed"),
            ("floor", floor.serve(), load.FLOOR_PATH, "allowed"),
            ("allowed", app, "/api/v1/fill-checks", "allowed"),
            ("blocked (writes)", app, "/api/v1/fill-checks", "blocked"),
        ]
        results = []
        for name, wsgi_app, path, kind in rows:
            run = _driver(wsgi_app, path, token, station, demo["codes"][kind])
            results.append((name, *measure(run, requests, profile)))
    return results


def full_collection_ms(runs: int = 20) -> tuple[float, int]:
    """The median wall-clock of a full ``gc.collect()`` here, and the objects it walks."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        gc.collect()
        times.append((time.perf_counter() - started) * 1000)
    return sorted(times)[runs // 2], len(gc.get_objects())


def collections_frozen_and_not() -> str:
    """A full collection's cost with the start-up objects frozen, then without."""
    frozen_ms, walked = full_collection_ms()
    frozen = gc.get_freeze_count()
    gc.unfreeze()
    whole_ms, every = full_collection_ms()
    return (
        f"gc.collect() after the rows (median of 20): {frozen_ms:.1f} ms over {walked} objects "
        f"with {frozen} frozen at start, as in a worker; {whole_ms:.1f} ms over {every} unfrozen"
    )


def main() -> None:
    """Prepare the ledger, build the apps, print a row per request kind."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    import load  # bench/load.py: the same ledger, codes and hello-world

    # The SQLite ledger, its keys and the metrics folder: removed at the end, also on an
    # error or Ctrl-C.
    with tempfile.TemporaryDirectory(prefix="bench-cost-", ignore_cleanup_errors=True) as tmpdir:
        results = _measure_all(Path(tmpdir), args.requests, args.profile, load, args.backend)
        collections = collections_frozen_and_not()
    hello_ms = results[0][1]
    print(f"backend: {args.backend}")
    print(f"{'request':<18} {'ms a request':>12} {'× hello':>8}")
    for name, mean_ms, _report in results:
        print(f"{name:<18} {mean_ms:>12.3f} {mean_ms / hello_ms:>8.1f}")
    print(collections)
    for name, _mean, report in results:
        if report:
            print(f"\n--- {name}\n{report}")


if __name__ == "__main__":
    main()
