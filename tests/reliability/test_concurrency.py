"""Concurrency on SQLite and PostgreSQL: many writers on one cylinder, integrators racing.

Writers run in threads, each with its own client and a connection of the pool; on
PostgreSQL they really run in parallel (row lock on the chain head, advisory lock for
the integrator), on SQLite they queue on the write lock. Either way: no fork, no loss,
no duplicate for a retried key, and the audit passes.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import text

from app.runtime import runtime
from ledger import log
from ledger.store import transaction
from tests import flows
from tests.conftest import bearer

WRITERS = ("driver_a", "station_a", "enterprise_a", "inspector", "regulator", "driver_a")
PER_WRITER = 5


def _write(app: Any, demo: Any, code: str, n: int, who: str, errors: list[Any]) -> None:
    client = app.test_client()
    headers = bearer(demo["tokens"][who])
    body = {"type": "reported", "payload": {"kind": "label_damaged"}}
    for i in range(PER_WRITER):
        key = {"Idempotency-Key": f"w{n}-{i}"}
        for _attempt in range(2):  # every write is retried once with its key
            resp = client.post(
                f"/api/v1/cylinders/{code}/events", json=body, headers={**headers, **key}
            )
            if resp.status_code not in (200, 201, 409):
                errors.append((who, i, resp.status_code, resp.get_json()))
            if resp.status_code == 409 and "still running" not in str(resp.get_json()):
                errors.append((who, i, 409, resp.get_json()))


def _integrate(app: Any, stop: threading.Event, errors: list[Any]) -> None:
    with app.app_context():
        engine = runtime().engine
        while not stop.is_set():
            try:
                with transaction(engine) as session:
                    log.integrate(session, wait=True)
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(("integrator", repr(exc)))


def test_writers_and_two_integrators_race_without_fork_or_loss(app, client, demo, runner):
    code = flows.register(client, demo)
    errors: list[Any] = []
    stop = threading.Event()
    integrators = [threading.Thread(target=_integrate, args=(app, stop, errors)) for _ in "ab"]
    writers = [
        threading.Thread(target=_write, args=(app, demo, code, n, who, errors))
        for n, who in enumerate(WRITERS)
    ]
    for t in integrators + writers:
        t.start()
    for t in writers:
        t.join(timeout=120)
    stop.set()
    for t in integrators:
        t.join(timeout=60)
    assert not errors, errors[:5]
    history = client.get(
        f"/api/v1/cylinders/{code}/events", headers=bearer(demo["tokens"]["regulator"])
    ).get_json()
    events = history["events"]
    assert history["chain_valid"]
    assert len(events) == 1 + len(WRITERS) * PER_WRITER  # nothing lost, nothing twice
    prevs = [e["prev_hash"] for e in events]
    assert len(set(prevs)) == len(prevs)  # no fork: every event has its own predecessor
    assert [e["prev_hash"] for e in events[1:]] == [e["hash"] for e in events[:-1]]
    assert runner.invoke(args=["ledger", "checkpoint"]).exit_code == 0
    result = runner.invoke(args=["ledger", "audit"])
    assert result.exit_code == 0, result.output


def test_concurrent_retries_of_one_keyed_registry_write_make_one_record(app, demo):
    body = {"name": "并发饭店", "kind": "restaurant", "address": "渝北区", "basement": False}
    headers = {**bearer(demo["tokens"]["driver_a"]), "Idempotency-Key": "same"}
    answers: list[Any] = []

    def post() -> None:
        resp = app.test_client().post("/api/v1/customers", json=body, headers=headers)
        answers.append((resp.status_code, resp.get_json()))

    threads = [threading.Thread(target=post) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    created = {doc["id"] for status, doc in answers if status == 201}
    assert len(created) == 1  # every answer is the first one or "still running"
    assert all(s in (201, 409) for s, _ in answers), answers
    listing = (
        app.test_client()
        .get("/api/v1/customers", headers=bearer(demo["tokens"]["driver_a"]))
        .get_json()
    )
    assert sum(c["name"] == "并发饭店" for c in listing["customers"]) == 1


def test_writes_at_once_leave_nothing_unintegrated_when_integrating_after_write(app, demo):
    """Writers arriving while another thread integrates ask it to run again instead of
    queueing for the log: once every write has answered, every event is in the log."""
    client = app.test_client()
    before = _counts(app)[1]
    codes = [flows.register(client, demo) for _ in range(3)]
    errors: list[Any] = []
    writers = [
        threading.Thread(target=_write, args=(app, demo, codes[n % 3], n, who, errors))
        for n, who in enumerate(WRITERS)
    ]
    for t in writers:
        t.start()
    for t in writers:
        t.join(timeout=120)
    assert not errors, errors[:5]
    pending, events, size = _counts(app)
    assert events == before + 3 + len(WRITERS) * PER_WRITER
    assert pending == 0 and size == events


def _counts(app: Any) -> tuple[int, int, int]:
    """Events waiting for the log, events, the log's size."""
    with app.app_context(), transaction(runtime().engine, write=False) as session:
        pending = session.execute(text("SELECT count(*) FROM log_pending")).scalar_one()
        events = session.execute(text("SELECT count(*) FROM events")).scalar_one()
        return int(pending), int(events), log.log_state(session).size


def test_writes_arriving_during_an_integration_share_one_more_round(app, monkeypatch):
    """Two writes commit while an integration runs: one more integration takes both, and
    the other writer's thread, finding its event taken, runs none."""
    rt = app.extensions["ledger"]
    runs: list[str] = []
    real = log.integrate
    others = [threading.Thread(target=rt.integrate_quietly, name=f"w{i}") for i in range(2)]
    lock = _AskingLock(rt._integrating)
    monkeypatch.setattr(rt, "_integrating", lock)

    def integrate(session: Any, *args: Any, **kwargs: Any) -> Any:
        runs.append(threading.current_thread().name)
        if len(runs) == 1:  # two more writes commit and ask while this one runs
            for t in others:
                t.start()
            assert lock.asked_by(3)  # both are waiting for the lock (and the first took it)
        return real(session, *args, **kwargs)

    monkeypatch.setattr(log, "integrate", integrate)
    threading.current_thread().name, name = "first", threading.current_thread().name
    try:
        rt.integrate_quietly()
    finally:
        threading.current_thread().name = name
    for t in others:
        t.join(timeout=10)
    assert runs[0] == "first" and len(runs) == 2 and runs[1] in ("w0", "w1")


class _AskingLock:
    """A lock that counts the threads that asked for it (waiting or not)."""

    def __init__(self, lock: Any) -> None:
        self._lock, self._asked, self._changed = lock, 0, threading.Condition()

    def acquire(self, *args: Any, **kwargs: Any) -> bool:
        with self._changed:
            self._asked += 1
            self._changed.notify_all()
        return bool(self._lock.acquire(*args, **kwargs))

    def release(self) -> None:
        self._lock.release()

    def asked_by(self, threads: int) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._asked >= threads, timeout=30)
