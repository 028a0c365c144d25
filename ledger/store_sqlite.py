"""SQLite under the ledger: WAL, foreign keys and real BEGINs; writers that wait for one
another in short steps; WAL checkpoints in the background, the WAL file kept small; and
connections that open again once a file that could not be written can be (permissions, a
file system mounted read-only: every connection of the process opened before is closed
first, since SQLite shares one read-only ``-shm`` mapping among them)."""

from __future__ import annotations

import atexit
import itertools
import sqlite3
import threading
import time
import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

from ledger import file_locks, sqlite_reopen

# make_engine's default wait for the write lock (bench scripts, tests); the app's engines
# (web, scheduler, CLI) wait SQLITE_BUSY_TIMEOUT_SECONDS (5 s): a job then runs next time.
BUSY_TIMEOUT_SECONDS = 30.0
SQLITE_BUSY = 5  # a primary result code (``sqlite_reopen.result_code``)
WAL_SIZE_LIMIT = 4 * 1024 * 1024  # bytes a reset WAL file is cut back to

# An execution option: this statement, a write of its own outside a transaction, waits for
# the write lock in short steps (``_polling``) rather than in SQLite's busy handler.
POLL_WRITE_LOCK = "sqlite_poll_write_lock"
_POLL_SECONDS = 0.5  # then SQLite's own busy handler, up to the busy timeout
_POLL_DELAYS = (0.0001, 0.0002, 0.0004, 0.0008, 0.0015)
_AUTOCHECKPOINT_PAGES = 20_000  # 80 MB of WAL: reached only if the checkpointer stalls
_CHECKPOINTED: weakref.WeakSet[Engine] = weakref.WeakSet()
_OPEN_AT_EXIT: weakref.WeakSet[Engine] = weakref.WeakSet()


def sqlite_engine(
    url: str,
    *,
    busy_timeout: float,
    background_checkpoints: bool,
    existing_file_only: bool = False,
    **kwargs: Any,
) -> Engine:
    """An engine for a SQLite ``url``; ``busy_timeout`` seconds is the longest a writer
    waits for another's lock before "database is locked".

    ``existing_file_only``: a connection to a file that is not there fails
    (``file_locks.NO_DATABASE_FILE``) instead of making an empty one, so that a mistyped path in
    ``DATABASE_URL`` leaves nothing behind (only the migrations make the file)."""
    # A fill check may hold a read and a write connection at once: room for 16 threads.
    kwargs.setdefault("pool_size", 32)
    engine = create_engine(url, connect_args={"timeout": busy_timeout}, **kwargs)
    if existing_file_only and (path := file_locks.database_file(engine.url)) is not None:
        _refuse_a_missing_file(engine, path)
    _configure(engine, int(busy_timeout * 1000))
    _OPEN_AT_EXIT.add(engine)
    if background_checkpoints:
        _WalCheckpointer(engine).start()
    return engine


def _refuse_a_missing_file(engine: Engine, path: Path) -> None:
    @event.listens_for(engine, "do_connect")
    def _existing(_dialect: Any, _record: Any, _cargs: Any, _cparams: Any) -> None:
        if not path.exists():  # sqlite3's own error: SQLAlchemy wraps it as any other
            raise sqlite3.OperationalError(file_locks.missing(path))


@atexit.register
def _close_at_exit() -> None:
    """Close every connection when the process ends (a command, a worker): the last one
    to close a file checkpoints its WAL and removes it, rather than leaving it at its size
    (25 MB after ``demo seed``) for the next process to recover."""
    for thread in threading.enumerate():  # no checkpoint holding a connection meanwhile
        if isinstance(thread, _WalCheckpointer):
            thread.stopped.set()
            thread.join(timeout=2)
    for engine in list(_OPEN_AT_EXIT):
        engine.dispose()


def _configure(engine: Engine, busy_timeout_ms: int) -> None:
    sqlite_reopen.watch(engine)  # first: before a connection reads

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself, so a writer can take the lock up front.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        # Safety net only when a checkpointer thread runs (it keeps the WAL far below this).
        pages = _AUTOCHECKPOINT_PAGES if engine in _CHECKPOINTED else 1000
        cur.execute(f"PRAGMA wal_autocheckpoint={pages}")
        # A WAL file grown by a burst is cut back when it is next reset, not kept at its peak.
        cur.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A writer starts with BEGIN IMMEDIATE: a deferred transaction that reads and
        # then writes fails with "database is locked" when another writer got in first.
        begin = conn.get_execution_options().get("sqlite_begin")
        if begin == "IMMEDIATE":
            _begin_immediate(conn, busy_timeout_ms)
        elif begin != "NONE":  # NONE: each statement is its own read (``reader``)
            conn.exec_driver_sql("BEGIN DEFERRED")

    @event.listens_for(engine, "do_execute")
    def _on_execute(cursor: Any, statement: str, parameters: Any, context: Any) -> Any:
        # A write outside any transaction (``POLL_WRITE_LOCK``) takes SQLite's write lock
        # inside itself: it waits for another writer in short steps, as BEGIN IMMEDIATE does.
        if not context.execution_options.get(POLL_WRITE_LOCK):
            return None  # SQLAlchemy's own execute
        raw = cursor.connection
        if not _polling(raw, lambda: cursor.execute(statement, parameters), busy_timeout_ms):
            cursor.execute(statement, parameters)  # the busy handler's wait, as above
        return True


def _begin_immediate(conn: Any, busy_timeout_ms: int) -> None:
    """BEGIN IMMEDIATE, waiting for another writer in short steps (``_polling``)."""
    raw = conn.connection.dbapi_connection
    if not _polling(raw, lambda: raw.execute("BEGIN IMMEDIATE"), busy_timeout_ms):
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # the busy handler's wait; errors as SQLAlchemy's


def _polling(raw: Any, attempt: Any, busy_timeout_ms: int) -> bool:
    """Run ``attempt`` (a statement that takes the write lock) on the DB-API connection
    ``raw``, trying again in short steps while another writer holds the lock; False when
    the lock was still held after the first half-second, or the attempt failed otherwise:
    the caller then runs the statement the usual way (waiting in SQLite's own busy handler,
    up to the busy timeout; an error raised as SQLAlchemy's, which the app's outage
    handling knows).

    SQLite's busy handler sleeps 1, 2, 5, 10, 15, 20, 25… ms between attempts, whatever the
    lock's holder is doing: under a few dozen writes a second most of a write's latency was
    that sleep (bench/load.py's p99 about 1 s). A write transaction here lasts well under a
    millisecond, so for the first half-second the lock is tried again at 0.1–1.5 ms steps.
    """
    raw.execute("PRAGMA busy_timeout=0")
    try:
        deadline = time.monotonic() + min(_POLL_SECONDS, busy_timeout_ms / 1000)
        for delay in itertools.chain(_POLL_DELAYS, itertools.repeat(_POLL_DELAYS[-1])):
            try:
                attempt()
                return True
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                    return False
            time.sleep(delay)
        return False  # the delays never end: for the type checker
    finally:
        raw.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")


class _WalCheckpointer(threading.Thread):
    """Checkpoints a SQLite WAL every second (PASSIVE: never blocks readers or writers)
    until the engine is disposed."""

    def __init__(self, engine: Engine, interval: float = 1.0) -> None:
        super().__init__(name="sqlite-wal-checkpoint", daemon=True)
        self.engine, self.interval, self.stopped = engine, interval, threading.Event()
        _CHECKPOINTED.add(engine)
        event.listen(engine, "engine_disposed", lambda _engine: self.stopped.set())

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                with self.engine.connect() as conn:
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
            except Exception:  # the file went away, or it is busy: try again next second
                continue
