#!/usr/bin/env python
"""Fill checks under load through gunicorn, beside a hello-world Flask view (issue 7).

    .venv/bin/python bench/load.py [--backend sqlite|postgresql|both] [--duration 10]
                                   [--connections 16] [--blocked-connections 2]
                                   [--configs 2x4,1x8,4x2] [--bare]

One run: gunicorn with gunicorn.conf.py serves (1) a hello-world Flask view, (2) the ledger
on a fresh database of each backend (a temp SQLite file; a fresh PostgreSQL schema
``bench_load_*``, dropped at the end), with the small demo and 400 registered cylinders:
200 legal at station A (allowed checks) and 200 of enterprise B (a check at station A is
refused NOT_OWNED and writes its ``fill_blocked`` event); before them a "floor" row: the
same app answering a constant after the token look-up and validation (bench/floor.py);
after them a mixed pair, as stations send checks: allowed and blocked ones at once on one
server, ``--blocked-connections`` (2) of the connections sending blocked ones, each kind
timed by a wrk of its own (no target: the targets are the single-kind rows'). ``--bare``
adds two rows through bench/floor.py's bare WSGI lane: the ledger's own check without
Flask, the request log, the metrics or a token look-up after the first (a ceiling for a
route outside Flask, not a route to serve).
``wrk`` (Debian package) drives ``POST /api/v1/fill-checks`` with a random code per
request from a Lua script, on 127.0.0.1 only, for ``--duration`` seconds per row,
``--connections`` connections, each request on a new connection as nginx's default
proxy_pass sends them (``--keepalive``: wrk's connections kept, which pins them to the
worker that accepted them).
Printed: requests/s, p50/p99 (wrk's), errors, the ratio to hello-world, the targets, and
the web workers' resident memory (psutil) after each row. ``--configs WxT,…`` repeats
the allowed checks on each backend for each gunicorn workers×threads setting (how gunicorn.conf.py
was chosen). Figures are printed, never asserted. Production settings are kept: JSON
request logs on (sent to /dev/null), integrate-after-write on.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PG_DEFAULT = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
TARGETS = {"allowed": 0.5, "blocked": 0.25}  # × hello-world throughput
TARGET_P99_MS = 50.0
TARGET_RSS_MB = 150.0
HELLO = "bench.load:hello()"  # gunicorn's target, from the repository's root
FLOOR_PATH = "/api/v1/floor/fill-checks"  # bench/floor.py: auth + validation, no check
BARE_PATH = "/api/v1/bare/fill-checks"  # bench/floor.py's bare(): the check without Flask


def hello() -> Any:
    """The hello-world Flask app gunicorn serves beside the ledger (``bench.load:hello()``)."""
    from flask import Flask

    app = Flask("hello")

    @app.post("/api/v1/fill-checks")
    def hi() -> str:
        return "hello world"

    return app


@dataclass
class Row:
    """One wrk run."""

    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    rss_mb: float


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Gunicorn:
    """gunicorn -c gunicorn.conf.py APP on a free 127.0.0.1 port, stopped on exit; its
    metrics folder is made in ``tmp`` (the run's temp folder, removed at the end)."""

    def __init__(
        self, target: str, env: dict[str, str], workers: int, threads: int, tmp: Path
    ) -> None:
        self.port = _free_port()
        full = {
            **os.environ,
            **env,
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "WEB_CONCURRENCY": str(workers),
            "WEB_THREADS": str(threads),
            # As production: the request log's info lines rendered and written (to stderr,
            # which goes to /dev/null below), so the figures include their cost.
            "LOG_LEVEL": "info",
            "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="prom-", dir=tmp),
        }
        # From the repository's root: with bench/ on the path, bench/ledger.py would shadow
        # the ledger package that gunicorn.conf.py imports.
        cmd = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py")]
        self.proc = subprocess.Popen(
            [*cmd, target],
            cwd=ROOT,
            env=full,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        self._wait()

    def _wait(self) -> None:
        import httpx

        for _ in range(300):
            if self.proc.poll() is not None:
                raise SystemExit(f"gunicorn exited with {self.proc.returncode}")
            try:
                httpx.get(self.url + "/", timeout=2)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise SystemExit("gunicorn did not come up")

    def rss_mb(self) -> float:
        """The largest resident memory of a worker, MB."""
        import psutil

        sizes = [p.memory_info().rss for p in psutil.Process(self.proc.pid).children()]
        return max(sizes) / 2**20 if sizes else 0.0

    def stop(self) -> None:
        """SIGTERM and wait."""
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)


def _lua(path: Path, token: str, station: int, codes: list[str], keepalive: bool = False) -> None:
    items = ",".join(json.dumps(c) for c in codes)
    # Without keep-alive each request comes on a new connection, as from nginx's default
    # proxy_pass (docs/deploy.md §5). With it, wrk's connections stay with whichever worker
    # accepted them, often all 16 with one of the two: the figures then measure one process.
    close = "" if keepalive else 'wrk.headers["Connection"] = "close"\n'
    path.write_text(
        close + f'wrk.method = "POST"\n'
        f'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {token}"\n'
        f"local codes = {{{items}}}\n"
        f"request = function()\n"
        f"  local c = codes[math.random(#codes)]\n"
        f'  local body = \'{{"station_id":{station},"scan":"\' .. c .. \'"}}\'\n'
        f"  return wrk.format(nil, nil, nil, body)\n"
        f"end\n"
    )


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        return float("nan")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[m.group(2)]
    return float(m.group(1)) * scale


def _wrk_command(
    server: Gunicorn, script: Path, args: argparse.Namespace, connections: int, path: str = ""
) -> list[str]:
    threads = min(args.wrk_threads, connections)
    return [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{args.duration}s", "--latency",
        "--timeout", "5s", "-s", str(script), server.url + (path or "/api/v1/fill-checks"),
    ]  # fmt: skip


def wrk(name: str, server: Gunicorn, script: Path, args: argparse.Namespace, path: str = "") -> Row:
    """Run wrk against the server's fill-check URL (``path``: another); parse its figures."""
    cmd = _wrk_command(server, script, args, args.connections, path)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return _row(name, out, server)


def wrk_mixed(server: Gunicorn, scripts: dict[str, Path], args: argparse.Namespace) -> list[Row]:
    """Allowed and blocked checks at once on one server, as stations send them: a wrk of
    its own for each kind, started together (``args.blocked_connections`` of the
    connections send blocked ones), so each kind's latency is its own under the other's
    load."""
    blocked = max(1, min(args.blocked_connections, args.connections - 1))
    split = {"allowed": args.connections - blocked, "blocked": blocked}
    running = {
        kind: subprocess.Popen(
            _wrk_command(server, scripts[kind], args, split[kind]),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for kind in ("allowed", "blocked")
    }
    rows = []
    for kind, proc in running.items():
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"wrk failed: {err}")
        rows.append(_row(f"{kind}, mixed ({split[kind]} conn.)", out, server))
    return rows


def bare_rows(
    env: dict[str, str],
    demo: dict[str, Any],
    args: argparse.Namespace,
    tmp: Path,
    size: tuple[int, int],
) -> list[Row]:
    """Allowed and blocked checks through bench/floor.py's bare WSGI lane (``--bare``): the
    ledger's check without Flask, logs, metrics or a token look-up after the first."""
    rows = []
    for kind in ("allowed", "blocked"):
        script = tmp / f"bare-{kind}.lua"
        token, station = demo["tokens"]["station_a"], demo["stations"]["a"]
        _lua(script, token, station, demo["codes"][kind], args.keepalive)
        server = Gunicorn("bench.floor:bare()", env, *size, tmp)
        try:
            rows.append(wrk(f"bare lane, {kind}", server, script, args, BARE_PATH))
        finally:
            server.stop()
    return rows


def _row(name: str, out: str, server: Gunicorn) -> Row:
    pct = dict(re.findall(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+[a-z]+)", out, re.M))
    if "99" not in pct:
        raise SystemExit(f"could not read wrk's output:\n{out}")
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(bad.group(1)) if bad else 0) + (sum(map(int, sock.groups())) if sock else 0)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    row = Row(name, rps, _ms(pct["50"]), _ms(pct["99"]), total, errors, server.rss_mb())
    print(f"  {name}: {rps:.0f}/s p99 {row.p99_ms:.1f} ms errors {errors}", file=sys.stderr)
    return row


def prepare(backend: str, tmp: Path) -> tuple[dict[str, str], dict[str, Any], str | None]:
    """A migrated, seeded database with cylinders to check; env for gunicorn, demo, schema."""
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import create_engine, text

    from app import create_app
    from app.demo import seed
    from ledger.store import transaction, upgrade

    schema = None
    tmp.mkdir(parents=True, exist_ok=True)
    if backend == "sqlite":
        url = f"sqlite:///{tmp / 'ledger.sqlite3'}"
    else:
        schema = f"bench_load_{uuid.uuid4().hex[:10]}"
        admin = create_engine(PG_DEFAULT.replace("postgresql://", "postgresql+psycopg://", 1))
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        admin.dispose()
        url = f"{PG_DEFAULT}{'&' if '?' in PG_DEFAULT else '?'}options=-csearch_path%3D{schema}"
    upgrade(url)
    env = {
        "DATABASE_URL": url,
        "LEDGER_INSTANCE": str(tmp / "instance"),
        "LEDGER_KEYS_DIR": str(tmp / "keys"),
        "LEDGER_ORIGIN": "bench.test/log",
        "PUBLIC_BASE_URL": "https://bench.test",
    }
    app = create_app(
        {
            "DATABASE_URL": url,
            "INSTANCE_PATH": env["LEDGER_INSTANCE"],
            "KEYS_DIR": env["LEDGER_KEYS_DIR"],
            "LEDGER_ORIGIN": env["LEDGER_ORIGIN"],
            "PUBLIC_BASE_URL": env["PUBLIC_BASE_URL"],
            "LOG_REQUESTS": False,
        }
    )
    with app.app_context():
        rt = app.extensions["ledger"]
        demo_path = Path(app.instance_path) / "demo.json"
        with transaction(rt.engine) as session:
            seed(session, rt.authority, rt.now(), demo_path, history=False)
        demo = json.loads(demo_path.read_text())
        client = app.test_client()
        codes: dict[str, list[str]] = {"allowed": [], "blocked": []}
        for kind, who in (("allowed", "enterprise_a"), ("blocked", "enterprise_b")):
            for _ in range(200):
                body = {
                    "serial": f"B{uuid.uuid4().hex[:10].upper()}",
                    "model": "YSP35.5",
                    "manufacturer": "浙江金盾压力容器有限公司",
                    "manufactured_on": "2024-03-01",
                    "capacity_kg": 15.0,
                    "tare_kg": 16.8,
                    "dual_phase": False,
                    "last_inspected_on": None,
                }
                resp = client.post(
                    "/api/v1/cylinders",
                    json=body,
                    headers={"Authorization": f"Bearer {demo['tokens'][who]}"},
                )
                assert resp.status_code == 201, resp.get_json()
                codes[kind].append(resp.get_json()["code"])
        demo["codes"] = codes
    rt.engine.dispose()
    return env, demo, schema


def drop_schema(schema: str) -> None:
    """Drop a benchmark's PostgreSQL schema."""
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_DEFAULT.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    admin.dispose()


def main() -> None:
    """Parse arguments, run the rows, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="both", choices=["sqlite", "postgresql", "both"])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=None, help="default: gunicorn.conf.py's")
    parser.add_argument("--threads", type=int, default=None, help="default: gunicorn.conf.py's")
    parser.add_argument("--configs", default="", help="e.g. 1x8,2x4,4x2 (allowed checks)")
    parser.add_argument(
        "--blocked-connections",
        type=int,
        default=2,
        metavar="N",
        help="a mixed row: N connections send blocked checks beside the others' allowed "
        "ones (0: no mixed row)",
    )
    parser.add_argument(
        "--bare",
        action="store_true",
        help="rows through bench/floor.py's bare WSGI lane: the check without Flask (a ceiling)",
    )
    parser.add_argument(
        "--keepalive", action="store_true", help="reuse connections (default: one per request)"
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: apt-get install wrk (make install does it)")
    workers = args.workers or int(os.environ.get("WEB_CONCURRENCY", "2"))
    threads = args.threads or int(os.environ.get("WEB_THREADS", "4"))
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    rows: list[tuple[str, Row]] = []
    schemas: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmpdir:
        tmp = Path(tmpdir)
        try:
            hello_script = tmp / "hello.lua"
            _lua(hello_script, "x", 1, ["HELLO"], args.keepalive)
            server = Gunicorn(HELLO, {}, workers, threads, tmp)
            try:
                rows.append(("-", wrk("hello world", server, hello_script, args)))
            finally:
                server.stop()
            for backend in backends:
                print(f"preparing {backend}…", file=sys.stderr)
                env, demo, schema = prepare(backend, tmp / backend)
                if schema:
                    schemas.append(schema)
                script = tmp / f"{backend}-floor.lua"
                _lua(script, demo["tokens"]["station_a"], demo["stations"]["a"],
                     demo["codes"]["allowed"], args.keepalive)  # fmt: skip
                server = Gunicorn("bench.floor:serve()", env, workers, threads, tmp)
                try:
                    rows.append((backend, wrk("floor", server, script, args, FLOOR_PATH)))
                finally:
                    server.stop()
                if args.bare:
                    rows.extend(
                        (backend, row)
                        for row in bare_rows(env, demo, args, tmp, (workers, threads))
                    )
                scripts = {}
                for kind in ("allowed", "blocked"):
                    script = scripts[kind] = tmp / f"{backend}-{kind}.lua"
                    _lua(
                        script,
                        demo["tokens"]["station_a"],
                        demo["stations"]["a"],
                        demo["codes"][kind],
                        args.keepalive,
                    )
                    server = Gunicorn("wsgi:app", env, workers, threads, tmp)
                    try:
                        rows.append((backend, wrk(kind, server, script, args)))
                    finally:
                        server.stop()
                if args.blocked_connections:
                    server = Gunicorn("wsgi:app", env, workers, threads, tmp)
                    try:
                        rows.extend((backend, row) for row in wrk_mixed(server, scripts, args))
                    finally:
                        server.stop()
                if args.configs:
                    for spec in args.configs.split(","):
                        w, t = (int(x) for x in spec.split("x"))
                        script = tmp / f"{backend}-allowed.lua"
                        server = Gunicorn("wsgi:app", env, w, t, tmp)
                        try:
                            row = wrk("allowed", server, script, args)
                            rows.append((f"{backend} {w}x{t}", row))
                        finally:
                            server.stop()
        finally:
            for schema in schemas:
                drop_schema(schema)
    report(rows, workers, threads, args)


def report(rows: list[tuple[str, Row]], workers: int, threads: int, ns: argparse.Namespace) -> None:
    """Print the table with each row's target."""
    hello_rps = rows[0][1].rps
    print(
        f"\n# bench/load.py — gunicorn {workers} workers × {threads} threads (gthread), "
        f"wrk {ns.wrk_threads} threads, {ns.connections} connections "
        f"({'kept alive' if ns.keepalive else 'one per request'}), {ns.duration} s/row, "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}"
    )
    print(
        "| backend | row | req/s | × hello | p50 ms | p99 ms | requests | errors | worker RSS MB "
        "| targets |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for backend, r in rows:
        ratio = r.rps / hello_rps if hello_rps else 0.0
        need = TARGETS.get(r.name)
        verdict = []
        if need is not None:
            verdict.append(f"≥{need}× {'met' if ratio >= need else 'MISSED'}")
            verdict.append(
                f"p99≤{TARGET_P99_MS:.0f} {'met' if r.p99_ms <= TARGET_P99_MS else 'MISSED'}"
            )
            verdict.append(
                f"RSS≤{TARGET_RSS_MB:.0f} {'met' if r.rss_mb <= TARGET_RSS_MB else 'MISSED'}"
            )
        print(
            f"| {backend} | {r.name} | {r.rps:.0f} | {ratio:.2f} | {r.p50_ms:.1f} | "
            f"{r.p99_ms:.1f} | {r.requests} | {r.errors} | {r.rss_mb:.0f} | {', '.join(verdict)} |"
        )


if __name__ == "__main__":
    main()
