"""Crash safety: kill -9 of a real server during writes, and of the integrator mid-way.

Nothing acknowledged is lost, a retry with the same Idempotency-Key records nothing twice,
the audit passes, and integration resumes where it stopped.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from ledger import log
from ledger.model import Event
from ledger.store import make_engine, transaction
from tests.reliability.server import ROOT, Server, flask, seed, server_env

ROUNDS = 3  # crashes per backend
WRITERS = ("driver_a", "station_a", "enterprise_a", "inspector")
BODY = {"type": "reported", "payload": {"kind": "label_damaged"}}


def _register(url: str, demo: dict[str, Any]) -> list[str]:
    headers = {"Authorization": f"Bearer {demo['tokens']['enterprise_a']}"}
    codes = []
    for i in range(2):
        body = {"serial": f"CRASH{i}{time.monotonic_ns() % 10**8}", "manufacturer": "金盾",
                "manufactured_on": "2024-03-01", "model": "YSP35.5", "capacity_kg": 15.0,
                "tare_kg": 16.8, "dual_phase": False}  # fmt: skip
        resp = httpx.post(f"{url}/api/v1/cylinders", json=body, headers=headers, timeout=10)
        assert resp.status_code == 201, resp.text
        codes.append(resp.json()["code"])
    return codes


class Writers:
    """Threads appending keyed events until the server dies; what was acknowledged."""

    def __init__(self, url: str, demo: dict[str, Any], codes: list[str], rnd: int) -> None:
        self.url, self.demo, self.codes, self.round = url, demo, codes, rnd
        self.sent: list[tuple[str, str, str]] = []  # (who, code, key) ever sent
        self.acked: dict[str, str] = {}  # key → event id acknowledged
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(w,)) for w in WRITERS]

    def _run(self, who: str) -> None:
        token = {"Authorization": f"Bearer {self.demo['tokens'][who]}"}
        with httpx.Client(base_url=self.url, timeout=5) as http:
            for i in range(200):
                code = self.codes[i % len(self.codes)]
                key = f"r{self.round}-{who}-{i}"
                with self.lock:
                    self.sent.append((who, code, key))
                try:
                    resp = http.post(f"/api/v1/cylinders/{code}/events", json=BODY,
                                     headers={**token, "Idempotency-Key": key})  # fmt: skip
                except httpx.HTTPError:
                    return  # the server is gone: this one was never acknowledged
                if resp.status_code == 201:
                    with self.lock:
                        self.acked[key] = resp.json()["id"]

    def start(self) -> None:
        """Start writing."""
        for t in self.threads:
            t.start()

    def join(self) -> None:
        """Wait for every writer to stop."""
        for t in self.threads:
            t.join(timeout=60)


def _history(url: str, demo: dict[str, Any], code: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {demo['tokens']['regulator']}"}
    resp = httpx.get(f"{url}/api/v1/cylinders/{code}/events", headers=headers, timeout=10)
    assert resp.status_code == 200
    doc: dict[str, Any] = resp.json()
    return doc


def test_kill_9_of_the_server_and_of_the_integrator_loses_nothing(
    db_url: str, tmp_path: Path
) -> None:
    env = server_env(db_url, tmp_path)
    demo = seed(env)
    server = Server(env, tmp_path)
    server.start()
    try:
        codes = _register(server.url, demo)
        all_sent: list[tuple[str, str, str]] = []
        for rnd in range(ROUNDS):
            writers = Writers(server.url, demo, codes, rnd)
            writers.start()
            deadline = time.monotonic() + 20
            while len(writers.acked) < 15 and time.monotonic() < deadline:
                time.sleep(0.02)
            server.kill()  # mid-flight: requests are in the workers right now
            writers.join()
            assert len(writers.acked) >= 15
            server.start()
            ids = {e["id"] for c in codes for e in _history(server.url, demo, c)["events"]}
            lost = set(writers.acked.values()) - ids
            assert not lost, f"round {rnd}: acknowledged events lost: {lost}"
            all_sent += writers.sent
        # Every request ever sent, retried with its key, is recorded exactly once.
        for who, code, key in all_sent:
            token = {"Authorization": f"Bearer {demo['tokens'][who]}", "Idempotency-Key": key}
            url = f"{server.url}/api/v1/cylinders/{code}/events"
            resp = httpx.post(url, json=BODY, headers=token, timeout=10)
            for _ in range(40):  # a claim left by the killed worker frees after 2 s
                if resp.status_code != 409 or "Retry-After" not in resp.headers:
                    break
                time.sleep(0.1)
                resp = httpx.post(url, json=BODY, headers=token, timeout=10)
            assert resp.status_code in (200, 201), resp.text
        events = sum(len(_history(server.url, demo, c)["events"]) for c in codes)
        assert events == len(codes) + len({key for _, _, key in all_sent})
        assert all(_history(server.url, demo, c)["chain_valid"] for c in codes)
    finally:
        server.kill()
    _crash_the_integrator(db_url, env)  # the writes above are all pending (not integrated)


# Three batches committed, then a fourth integrated and left uncommitted until the kill
# (after a fixed point, not after a time: a slow machine cannot let it finish first).
INTEGRATE_THREE_BATCHES_AND_HANG = """
import sys, time
from ledger import log
from ledger.store import make_engine, transaction
engine = make_engine(sys.argv[1])
for batch in range(4):
    with transaction(engine) as session:
        done = log.integrate(session, batch=3)
        if batch == 3:
            print("uncommitted", flush=True)
            time.sleep(3600)
    print(done.new_size, flush=True)
"""


def _sizes(db_url: str) -> tuple[int, int]:
    engine = make_engine(db_url)
    with transaction(engine, write=False) as session:
        events = session.execute(select(func.count()).select_from(Event)).scalar_one()
        size = log.log_state(session).size
    engine.dispose()
    return int(events), size


def _crash_the_integrator(db_url: str, env: dict[str, str]) -> None:
    """kill -9 an integrator mid-way; the next one resumes where it stopped."""
    events, size = _sizes(db_url)
    assert events - size > 12  # enough pending for several batches
    proc = subprocess.Popen(
        [sys.executable, "-c", INTEGRATE_THREE_BATCHES_AND_HANG, db_url],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    assert proc.stdout is not None
    seen = [int(proc.stdout.readline()) for _ in range(3)]  # three batches committed
    assert proc.stdout.readline() == "uncommitted\n"
    proc.kill()  # SIGKILL, mid-way: inside the fourth batch's transaction
    proc.wait(timeout=10)
    proc.stdout.close()
    _, partial = _sizes(db_url)
    assert size < seen[-1] == partial < events  # committed batches stay, the rest pending
    assert flask(env, "ledger", "checkpoint").returncode == 0
    after_events, after_size = _sizes(db_url)
    assert after_size == after_events == events
    audit = flask(env, "ledger", "audit", check=False)
    assert audit.returncode == 0, audit.stdout + audit.stderr
