"""Advisory locks on SQLite are real locks, as PostgreSQL's transaction-level ones: held to
the transaction's end, exclusive across threads and processes; so a second scheduler (or a
second audit in one process) finds a long daily job busy instead of running it again.

Most tests run on both backends: the two must behave alike."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app import audits, jobs
from ledger import log
from ledger.store import advisory_lock, make_engine, transaction, writer

ROOT = Path(__file__).resolve().parents[2]


class Holder:
    """A session in a thread of its own that takes ``name`` (``wait=False``) and keeps its
    transaction open until told how to end it: commit, rollback or close."""

    def __init__(self, engine: Engine, name: str, *, write: bool = False) -> None:
        self.engine = writer(engine) if write else engine
        self.name, self.got, self.ended = name, False, threading.Event()
        self.ready, self.how = threading.Event(), queue.Queue[str]()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(10)

    def _run(self) -> None:
        session = Session(self.engine)
        try:
            self.got = advisory_lock(session, self.name, wait=False)
            self.ready.set()
            how = self.how.get(timeout=60)
            if how == "commit":
                session.commit()
            elif how == "rollback":
                session.rollback()
        finally:
            session.close()  # "close": neither commit nor rollback
            self.ended.set()

    def end(self, how: str = "commit") -> None:
        self.how.put(how)
        assert self.ended.wait(10)


def free(engine: Engine, name: str) -> bool:
    """Whether another session (of this thread) can take ``name`` now."""
    with Session(engine) as session:
        return advisory_lock(session, name, wait=False)


def _sqlite_only(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's own lock; PostgreSQL's advisory locks are tested as such")


@pytest.mark.parametrize("how", ["commit", "rollback", "close"])
def test_a_lock_is_busy_for_another_thread_until_the_transaction_ends(
    engine: Engine, how: str
) -> None:
    holder = Holder(engine, "job:audit")
    assert holder.got is True
    assert free(engine, "job:audit") is False
    assert free(engine, "job:audit") is False  # a refusal takes nothing either
    assert free(engine, "job:stale_report") is True  # another name is not blocked
    holder.end(how)
    assert free(engine, "job:audit") is True


def test_the_holding_session_may_take_its_lock_again(engine: Engine) -> None:
    with Session(engine) as session:
        assert advisory_lock(session, "job:audit", wait=False)
        assert advisory_lock(session, "job:audit", wait=False)
        assert advisory_lock(session, "job:audit")
        session.commit()
        assert free(engine, "job:audit")


def test_a_waiting_request_blocks_until_the_holder_commits(engine: Engine) -> None:
    holder = Holder(engine, "job:audit")
    got = threading.Event()

    def wait_for_it() -> None:
        with Session(engine) as session:
            assert advisory_lock(session, "job:audit", wait=True)
            got.set()

    waiter = threading.Thread(target=wait_for_it, daemon=True)
    waiter.start()
    assert not got.wait(0.5)  # still waiting
    holder.end("commit")
    assert got.wait(10)
    waiter.join(10)


def test_a_writer_not_waiting_locks_a_file_beside_the_database(engine: Engine) -> None:
    """``wait=False`` locks in a writer transaction too (the writing jobs), in a file beside
    the database; a writer's waiting request (the scheduler's integrator) does not wait."""
    _sqlite_only(engine)
    holder = Holder(engine, "job:integrate", write=True)  # wait=False in a writer: locks
    assert holder.got and free(engine, "job:integrate") is False
    folder = Path(str(engine.url.database) + ".locks")
    assert [p.name.startswith("job_integrate-") for p in folder.iterdir()] == [True]
    holder.end("commit")


def test_the_two_integrators_on_sqlite_do_not_deadlock(engine: Engine) -> None:
    """The web's integrator (``wait=False``) takes the integrator's lock before its
    transaction begins, then waits for SQLite's write lock; the scheduler's holds the write
    lock, then asks for the integrator's lock, waiting. Were that a file lock, each would
    wait for the other until SQLite's busy timeout (30 s) failed the web's."""
    _sqlite_only(engine)
    locked, done = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def web() -> None:
        try:
            with transaction(engine) as session:
                assert advisory_lock(session, log.INTEGRATOR_LOCK, wait=False)
                locked.set()
                assert done.wait(60)
                log.integrate(session, wait=False)  # begins: waits for the write lock
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=web, daemon=True)
    thread.start()
    assert locked.wait(10)
    started = time.monotonic()
    with transaction(engine) as session:
        log.log_state(session)  # the write lock is this transaction's now
        done.set()
        log.integrate(session)  # wait=True
    assert time.monotonic() - started < 5
    thread.join(10)
    assert not errors


def test_an_in_memory_database_locks_nothing() -> None:
    memory = make_engine("sqlite://")
    try:
        with Session(memory) as session:
            assert advisory_lock(session, "job:audit", wait=False)
            assert free(memory, "job:audit")
    finally:
        memory.dispose()


HOLD = """
import sys
from sqlmodel import Session
from ledger.store import advisory_lock, make_engine
with Session(make_engine(sys.argv[1])) as session:
    print(advisory_lock(session, sys.argv[2], wait=False), flush=True)
    if sys.stdin.readline().strip() == "commit":
        session.commit()
    print("ended", flush=True)
    sys.stdin.readline()
"""


def _other_process(db_url: str, name: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, db_url, name],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "True"
    return proc


def _eventually_free(engine: Engine, name: str, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if free(engine, name):
            return True
        time.sleep(0.05)
    return False


def test_a_lock_another_process_holds_is_busy_until_its_transaction_ends(
    engine: Engine, db_url: str
) -> None:
    proc = _other_process(db_url, "job:audit")
    try:
        assert free(engine, "job:audit") is False
        assert free(engine, "job:nightly") is True
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("commit\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "ended"
        assert proc.poll() is None  # alive: the transaction's end released it
        assert _eventually_free(engine, "job:audit")
    finally:
        proc.kill()
        proc.communicate(timeout=10)


def test_a_lock_of_a_killed_process_is_free(engine: Engine, db_url: str) -> None:
    proc = _other_process(db_url, "job:audit")
    try:
        assert free(engine, "job:audit") is False
    finally:
        proc.kill()
        proc.communicate(timeout=10)
    assert _eventually_free(engine, "job:audit")


def _audits(monkeypatch: pytest.MonkeyPatch, gate: threading.Event | None = None) -> list[int]:
    """Count the audits run (each waits for ``gate`` when given)."""
    runs: list[int] = []

    def run_and_keep(_rt: Any, _instance_path: str) -> dict[str, Any]:
        runs.append(1)
        if gate is not None:
            assert gate.wait(30)
        return {"ok": True}

    monkeypatch.setattr(audits, "run_and_keep", run_and_keep)
    return runs


def test_an_audit_another_scheduler_runs_is_busy_and_not_run(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = _audits(monkeypatch)
    holder = Holder(app.extensions["ledger"].engine, "job:audit")
    assert jobs.nightly_audit(app) == {"job": "audit", "status": "busy"}
    assert runs == []
    holder.end("commit")
    done = jobs.nightly_audit(app)
    assert done["status"] == "done" and done["ok"] is True and runs == [1]


def test_two_audits_in_one_process_never_overlap(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = threading.Event()
    runs = _audits(monkeypatch, gate)
    first: list[dict[str, Any]] = []
    thread = threading.Thread(target=lambda: first.append(jobs.nightly_audit(app)))
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not runs and time.monotonic() < deadline:
            time.sleep(0.01)
        assert runs == [1]  # the nightly audit is running
        assert jobs.nightly_audit(app) == {"job": "audit", "status": "busy"}
        assert jobs.requested_audit(app) == {"job": "audit", "status": "busy"}
    finally:
        gate.set()
        thread.join(30)
    assert first[0]["status"] == "done" and runs == [1]


@pytest.mark.parametrize(
    ("job", "name"),
    [
        (jobs.stale_report, "stale_report"),
        (jobs.expiry_sweep, "expiry_sweep"),
        (jobs.integrate_and_checkpoint, "integrate"),
    ],
)
def test_each_job_is_busy_while_another_holds_its_lock(app: Any, job: Any, name: str) -> None:
    holder = Holder(app.extensions["ledger"].engine, f"job:{name}")
    assert job(app) == {"job": name, "status": "busy"}
    holder.end("rollback")
    assert job(app)["status"] == "done"
