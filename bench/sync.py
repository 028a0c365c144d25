#!/usr/bin/env python
"""A station's full offline cache (``GET /api/v1/stations/{id}/sync``) served by gunicorn on
PostgreSQL: bytes on the wire, time, and the worker's resident memory (idle, and its peak).

    .venv/bin/python bench/sync.py [--cylinders 85000] [--code DIR[,DIR…]] [--repeat 3]

A fresh PostgreSQL database ``bench_sync_<hex>`` (on ``$BENCH_DATABASE_URL``'s server,
default 127.0.0.1:5432) is migrated and gets the demo registry, a few hundred cylinders
loaded by bench/fill_check.py's loader (10 events each, hashed and projected as the service
does), then copies of their cylinder and state rows made in SQL (new ids and codes) until
enterprise A owns ``--cylinders``; it is dropped at the end. For each code checkout named
by ``--code`` (default: this one; e.g. an export of ``main`` for the figures before) and
each encoding (identity, gzip), a fresh gunicorn (this checkout's gunicorn.conf.py, one
worker) serves it; station A's token asks ``--repeat`` times for its full sync. Printed:
the bytes on the wire, the median time to the last byte, the worker's RSS once warm
(after a small sync) and its peak (VmHWM). The documents of every run are compared
(parsed, ``generated_at`` aside). Figures are printed, never asserted.

``--gzip-levels`` instead compresses, in this process, a synthetic document of
``--cylinders`` states that differ as real ones do (ids, codes, times, weights; the copies
above differ in their ids and codes alone, and compress far better than real states) at
zlib levels 1, 3 and 6, in 64 KB pieces as app/streaming.py does: size and time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fill_check as fc
import httpx
from sqlalchemy import create_engine, text

from ledger.store import transaction, upgrade

HERE = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
SERVER = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REAL = 400  # cylinders loaded by the loader; the rest are copies

CLONE = """
CREATE TEMP TABLE clone_map AS
SELECT c.id AS old_id, c.code AS old_code,
       md5(c.id || ':' || g)::uuid::text AS new_id,
       'BS' || lpad((row_number() OVER ())::text, 10, '0') AS new_code
FROM cylinders c, generate_series(1, :copies) AS g
WHERE c.owner_id = :owner
LIMIT :n;
INSERT INTO cylinders (id, code, serial, manufacturer, manufactured_on, model, capacity_kg,
    tare_kg, dual_phase, service_life_years, owner_id, last_inspected_on,
    next_inspection_due, registered_at, head_seq, head_hash)
SELECT m.new_id, m.new_code, m.new_code, c.manufacturer, c.manufactured_on, c.model,
    c.capacity_kg, c.tare_kg, c.dual_phase, c.service_life_years, c.owner_id,
    c.last_inspected_on, c.next_inspection_due, c.registered_at, c.head_seq, c.head_hash
FROM clone_map m JOIN cylinders c ON c.id = m.old_id;
INSERT INTO cylinder_states (cylinder_id, owner_id, status, seq, next_inspection_due,
    end_of_life, last_event_at, state)
SELECT m.new_id, s.owner_id, s.status, s.seq, s.next_inspection_due, s.end_of_life,
    s.last_event_at, replace(replace(s.state, m.old_id, m.new_id), m.old_code, m.new_code)
FROM clone_map m JOIN cylinder_states s ON s.cylinder_id = m.old_id;
"""


def say(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)


def admin_url() -> str:
    return SERVER.rsplit("/", 1)[0] + "/postgres"


def engine_for(url: str) -> Any:
    return create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


def load(url: str, tmp: Path, cylinders: int) -> dict[str, Any]:
    """Migrate, seed the demo, load REAL cylinders and copy them up to ``cylinders``."""
    upgrade(url)
    instance = tmp / "instance"
    app = fc.create_app({
        "DATABASE_URL": url, "INSTANCE_PATH": str(instance), "KEYS_DIR": str(instance / "keys"),
        "INTEGRATE_AFTER_WRITE": False, "TESTING": True, "LOG_REQUESTS": False,
    })  # fmt: skip
    rt = app.extensions["ledger"]
    with app.app_context(), transaction(rt.engine) as s:
        demo = fc.seed(s, rt.authority, rt.now(), instance / "demo.json", history=False)
    loader = fc.Loader(rt.engine, demo, rt.now() - fc.dt.timedelta(days=400))
    loader.load(REAL * loader.per_cylinder)
    owner = demo["enterprises"]["a"]
    with rt.engine.begin() as conn:
        have = conn.execute(
            text("SELECT count(*) FROM cylinder_states WHERE owner_id = :o"), {"o": owner}
        ).scalar_one()
        missing = max(0, cylinders - have)
        raw = conn.connection.driver_connection
        sql = CLONE.replace(":copies", str(missing // have + 1)).replace(":owner", str(owner))
        raw.execute(sql.replace(":n", str(missing)))  # type: ignore[union-attr]
        conn.execute(text("ANALYZE"))
        total, size = conn.execute(
            text("SELECT count(*), sum(length(state)) FROM cylinder_states WHERE owner_id = :o"),
            {"o": owner},
        ).one()
    rt.engine.dispose()
    say(f"enterprise A owns {total:,} cylinders, {size / 1e6:.1f} MB of stored states")
    return demo


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def vm(pid: int, field: str) -> int:
    """A /proc/PID/status memory figure, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def serve(code: Path, url: str, tmp: Path, port: int) -> tuple[subprocess.Popen[bytes], int]:
    """gunicorn (one worker) serving ``code``; the master and the worker's pid."""
    env = {
        **os.environ, "DATABASE_URL": url, "LEDGER_INSTANCE": str(tmp / "instance"),
        "GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1", "PYTHONPATH": str(code),
        "INTEGRATE_AFTER_WRITE": "0", "PROMETHEUS_MULTIPROC_DIR": str(tmp / f"prom-{port}"),
    }  # fmt: skip
    os.makedirs(env["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
    log = open(tmp / f"gunicorn-{port}.log", "wb")  # noqa: SIM115
    cmd = [str(VENV_BIN / "gunicorn"), "-c", str(code / "gunicorn.conf.py"), "wsgi:app"]
    proc = subprocess.Popen(cmd, cwd=code, env=env, stdout=log, stderr=log)
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/ledger/key").status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError(f"gunicorn did not start: {tmp / f'gunicorn-{port}.log'}")
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    return proc, int(children[0])


def fetch(base: str, path: str, token: str, encoding: str, out: Path | None) -> tuple[int, float]:
    """One sync: bytes on the wire and seconds to the last byte; the decoded body to ``out``."""
    headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": encoding}
    started = time.perf_counter()
    wire = 0
    with httpx.stream("GET", base + path, headers=headers, timeout=120) as resp:
        resp.raise_for_status()
        sink = open(out, "wb") if out else None  # noqa: SIM115
        try:
            for chunk in resp.iter_bytes():
                if sink:
                    sink.write(chunk)
            wire = resp.num_bytes_downloaded
        finally:
            if sink:
                sink.close()
    return wire, time.perf_counter() - started


def measure(code: Path, url: str, tmp: Path, demo: dict[str, Any], encoding: str, repeat: int):
    port = free_port()
    proc, worker = serve(code, url, tmp, port)
    base, token = f"http://127.0.0.1:{port}", demo["tokens"]["station_a"]
    path = f"/api/v1/stations/{demo['stations']['a']}/sync"
    try:
        fetch(base, path + "?since=2999-01-01T00:00:00Z", token, encoding, None)  # warm
        idle = vm(worker, "VmRSS")
        doc = tmp / f"doc-{code.name}-{encoding}.json"
        runs = [fetch(base, path, token, encoding, doc if i == 0 else None) for i in range(repeat)]
        peak, after = vm(worker, "VmHWM"), vm(worker, "VmRSS")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    seconds = statistics.median(t for _, t in runs)
    return {"code": str(code), "encoding": encoding, "wire_bytes": runs[0][0],
            "body_bytes": doc.stat().st_size, "seconds_median": round(seconds, 3),
            "seconds": [round(t, 3) for _, t in runs], "rss_idle_mb": round(idle / 2**20, 1),
            "rss_peak_mb": round(peak / 2**20, 1), "rss_after_mb": round(after / 2**20, 1),
            "doc": doc}  # fmt: skip


def digest(path: Path) -> str:
    """The parsed document's digest, ``generated_at`` aside."""
    doc = json.loads(path.read_bytes())
    doc.pop("generated_at", None)
    canonical = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def gzip_levels(cylinders: int) -> None:
    """Size and time of app/streaming.py's gzip at levels 1, 3, 6 on synthetic states."""
    import datetime as dt
    import random
    import zlib

    from ledger.state import registered

    reg = {"code": "X", "serial": "S", "manufacturer": "浙江金盾压力容器有限公司",
           "manufactured_on": "2022-05-01", "model": "YSP35.5", "capacity_kg": 15.0,
           "tare_kg": 16.8, "dual_phase": False, "owner": 1, "last_inspected_on": None,
           "service_life_years": None}  # fmt: skip
    base, rnd = registered("id", reg, dt.datetime.now(dt.UTC)).to_dict(), random.Random(1)
    start = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)

    def when() -> str:
        return (start - dt.timedelta(seconds=rnd.randrange(10**8), microseconds=1)).isoformat()

    texts = [
        json.dumps(
            {
                **base,
                "cylinder_id": str(uuid.UUID(int=rnd.getrandbits(128))),
                "code": f"A{rnd.getrandbits(40):012X}",
                "last_filled_at": when(),
                "last_event_at": when(),
                "seq": rnd.randrange(300),
                "last_net_kg": round(rnd.uniform(14, 15.2), 2),
            },
            ensure_ascii=False,
            sort_keys=True,
        )
        for _ in range(cylinders)
    ]
    body = ('{"cylinders":[' + ",".join(texts) + "]}").encode()
    print(f"synthetic document: {len(body) / 1e6:.1f} MB, {cylinders:,} states")
    for level in (1, 3, 6):
        packer, started, size = zlib.compressobj(level, zlib.DEFLATED, 31), time.perf_counter(), 0
        for i in range(0, len(body), 65536):
            size += len(packer.compress(body[i : i + 65536]))
        size += len(packer.flush())
        took = time.perf_counter() - started
        print(f"level {level}: {size / 1e6:.2f} MB ({len(body) / size:.1f}x) in {took:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cylinders", type=int, default=85_000)
    parser.add_argument("--code", default=str(HERE), help="checkouts to serve, comma-separated")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--gzip-levels", action="store_true", help="only compare gzip levels")
    args = parser.parse_args()
    if args.gzip_levels:
        gzip_levels(args.cylinders)
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    name = f"bench_sync_{uuid.uuid4().hex[:10]}"
    admin = engine_for(admin_url()).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = SERVER.rsplit("/", 1)[0] + "/" + name
    try:
        say(f"loading {args.cylinders:,} cylinders into {name}")
        demo = load(url, tmp, args.cylinders)
        results = []
        for code in [Path(c).resolve() for c in args.code.split(",")]:
            for encoding in ("identity", "gzip"):
                say(f"serving {code} ({encoding})")
                results.append(measure(code, url, tmp, demo, encoding, args.repeat))
        print(f"{'code':<28} {'encoding':<9} {'wire MB':>8} {'body MB':>8} {'s (median)':>10} "
              f"{'RSS idle':>9} {'RSS peak':>9} {'RSS after':>9}  document")  # fmt: skip
        for r in results:
            print(f"{r['code'][-28:]:<28} {r['encoding']:<9} {r['wire_bytes'] / 1e6:>8.2f} "
                  f"{r['body_bytes'] / 1e6:>8.2f} {r['seconds_median']:>10.3f} "
                  f"{r['rss_idle_mb']:>9.1f} {r['rss_peak_mb']:>9.1f} {r['rss_after_mb']:>9.1f}"
                  f"  {digest(r['doc'])}")  # fmt: skip
        print("times:", {f"{Path(r['code']).name}/{r['encoding']}": r["seconds"] for r in results})
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
