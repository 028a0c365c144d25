"""On SQLite a fill check holds the one write lock for as little as it can: an allowing
check's row is a statement of its own beside the check (the lock is taken and released
inside that statement), and the answer is built once the decision is committed. A thread
that lost the GIL while holding the lock kept every other writer waiting."""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any

import pytest
from sqlalchemy import event, select

from app.api import checks as check_view
from ledger.model_rules import FillCheck
from ledger.store import transaction
from tests import flows
from tests.sql_sent import statements_sent
from tests.sqlite_lock import write_lock_is_free


def _sqlite_engine(app: Any) -> Any:
    engine = app.extensions["ledger"].engine
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's one write lock")
    return engine


def test_an_allowing_check_takes_no_write_transaction(app: Any, client: Any, demo: Any) -> None:
    engine = _sqlite_engine(app)
    code = flows.register(client, demo)
    begun: list[str] = []  # how each transaction began (ledger.store_sqlite's "begin")

    def record(conn: Any) -> None:
        begun.append(conn.get_execution_options().get("sqlite_begin", "DEFERRED"))

    event.listen(engine, "begin", record)
    try:
        with statements_sent(engine) as sent:
            answer = flows.check(client, demo, code)
    finally:
        event.remove(engine, "begin", record)
    assert answer.status_code == 200 and answer.get_json()["allowed"], answer.get_json()
    assert "IMMEDIATE" not in begun, begun
    assert len([s for s in sent if s.startswith("INSERT INTO fill_checks")]) == 1
    with transaction(engine, write=False) as s:  # kept: committed by its own statement
        kept = s.get(FillCheck, answer.get_json()["check_id"])
        assert kept is not None and kept.allowed and kept.code == code


@pytest.mark.parametrize("held", [False, True], ids=["allowed", "blocked"])
def test_the_answer_is_built_with_the_write_lock_free(
    app: Any, client: Any, demo: Any, held: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = _sqlite_engine(app)
    code = flows.register(client, demo)
    if held:
        flows.event(client, demo, code, "regulator", "held", {"reason": "抽查"})
    real, free = check_view.state_document, []

    def watched(*args: Any, **kwargs: Any) -> Any:
        free.append(write_lock_is_free(engine.url.database))
        return real(*args, **kwargs)

    monkeypatch.setattr(check_view, "state_document", watched)
    answer = flows.check(client, demo, code)
    assert answer.status_code == 200 and answer.get_json()["allowed"] is not held
    assert free == [True]
    with transaction(engine, write=False) as s:
        rows = s.execute(select(FillCheck).where(FillCheck.code == code)).scalars().all()
        assert [r.allowed for r in rows] == [not held]


def test_an_allowing_checks_row_waits_for_another_writer_in_short_steps(
    app: Any, client: Any, demo: Any
) -> None:
    """Its statement meeting another writer's lock is tried again in short steps (as a
    transaction's BEGIN IMMEDIATE is), not left in SQLite's busy handler, whose sleeps grow
    to 5, 10, 25 ms: under allowed and blocked checks at once, the allowed ones' p99 was
    that sleep (bench/load.py's mixed rows). The row lands once the lock is released, and
    the connection's busy timeout is as it was."""
    engine = _sqlite_engine(app)
    code = flows.register(client, demo)
    attempts: list[str] = []
    traced: list[Any] = []

    def trace(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        traced.append(dbapi_conn)
        dbapi_conn.set_trace_callback(
            lambda sql: attempts.append(sql) if sql.startswith("INSERT INTO fill_checks") else None
        )

    holder = sqlite3.connect(engine.url.database, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # another writer: another process's transaction

    def release_after_three_attempts() -> None:
        while len(attempts) < 3:
            time.sleep(0.001)
        holder.execute("COMMIT")

    releaser = threading.Thread(target=release_after_three_attempts, daemon=True)
    event.listen(engine, "checkout", trace)
    try:
        releaser.start()
        answer = flows.check(client, demo, code)
        releaser.join(timeout=10)
    finally:
        event.remove(engine, "checkout", trace)
        for conn in traced:
            conn.set_trace_callback(None)
        holder.close()
    assert answer.status_code == 200 and answer.get_json()["allowed"], answer.get_json()
    assert not releaser.is_alive() and len(attempts) >= 3, attempts
    with transaction(engine, write=False) as s:
        kept = s.get(FillCheck, answer.get_json()["check_id"])
        assert kept is not None and kept.allowed
    busy = [conn.execute("PRAGMA busy_timeout").fetchone()[0] for conn in traced]
    assert set(busy) == {int(app.config["SQLITE_BUSY_TIMEOUT_SECONDS"] * 1000)}, busy
