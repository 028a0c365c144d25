"""Engines, sessions and migrations for SQLite (embedded) and PostgreSQL (production)."""

from __future__ import annotations

import itertools
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from ledger import file_locks

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def make_engine(url: str, *, background_checkpoints: bool = False, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys, a busy timeout and real BEGINs.

    ``background_checkpoints`` (SQLite, for a serving process): WAL checkpoints run in a
    thread every second instead of inside whichever write crosses the threshold, which
    otherwise costs that one request 10–25 ms (the fill check's p99; bench/fill_check.py).
    """
    if url.startswith("sqlite"):
        # A fill check may hold a read and a write connection at once: room for 16 threads.
        kwargs.setdefault("pool_size", 32)
        engine = create_engine(url, connect_args={"timeout": _BUSY_TIMEOUT_MS / 1000}, **kwargs)
        _configure_sqlite(engine)
        if background_checkpoints:
            _WalCheckpointer(engine).start()
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    # No pre-ping: it costs a round trip per transaction; connections are recycled instead.
    # A request that meets a dead connection is run again once by the web (app/outage.py)
    # when nothing was committed, else fails cleanly and is retried by its client.
    kwargs.setdefault("pool_recycle", 1800)
    if "connect_timeout" not in url:
        # A database host that drops packets must not hold a worker past gunicorn's timeout:
        # the request answers 503 (app/outage.py) instead.
        kwargs.setdefault("connect_args", {}).setdefault("connect_timeout", 5)
    return create_engine(url, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
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
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A writer starts with BEGIN IMMEDIATE: a deferred transaction that reads and
        # then writes fails with "database is locked" when another writer got in first.
        begin = conn.get_execution_options().get("sqlite_begin")
        if begin == "IMMEDIATE":
            _begin_immediate(conn)
        elif begin != "NONE":  # NONE: each statement is its own read (``reader``)
            conn.exec_driver_sql("BEGIN DEFERRED")


_BUSY_TIMEOUT_MS = 30_000
_POLL_SECONDS = 0.5  # then SQLite's own busy handler, up to the busy timeout
_POLL_DELAYS = (0.0001, 0.0002, 0.0004, 0.0008, 0.0015)


def _begin_immediate(conn: Any) -> None:
    """BEGIN IMMEDIATE, waiting for another writer in short steps.

    SQLite's busy handler sleeps 1, 2, 5, 10, 15, 20, 25… ms between attempts, whatever the
    lock's holder is doing: under a few dozen writes a second most of a write's latency was
    that sleep (bench/load.py's p99 about 1 s). A write transaction here lasts well under a
    millisecond, so for the first half-second the lock is tried again at 0.1–1.5 ms steps;
    after that SQLite's own handler waits, up to the busy timeout, as before.
    """
    raw = conn.connection.dbapi_connection
    raw.execute("PRAGMA busy_timeout=0")
    try:
        deadline = time.monotonic() + _POLL_SECONDS
        for attempt in itertools.count():
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                    break
            time.sleep(_POLL_DELAYS[min(attempt, len(_POLL_DELAYS) - 1)])
    finally:
        raw.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
    conn.exec_driver_sql("BEGIN IMMEDIATE")  # the busy handler's wait; errors as SQLAlchemy's


_AUTOCHECKPOINT_PAGES = 20_000  # 80 MB of WAL: reached only if the checkpointer stalls
_CHECKPOINTED: weakref.WeakSet[Engine] = weakref.WeakSet()


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


@lru_cache(maxsize=64)
def writer(engine: Engine) -> Engine:
    """The same engine, whose transactions take SQLite's write lock when they begin."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(sqlite_begin="IMMEDIATE")
    return engine


@lru_cache(maxsize=64)
def reader(engine: Engine) -> Engine:
    """The same engine for reads, without BEGIN and COMMIT: on PostgreSQL an autocommit
    connection (no round trips), on SQLite no explicit transaction (each statement reads
    on its own, as on PostgreSQL).

    Safe because everything a read can see only ever grows: events, leaves and checkpoints
    are never changed, and a rewritten right-edge tile keeps every node it had, so the
    statements of one read need no shared snapshot.
    """
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine.execution_options(sqlite_begin="NONE")


@contextmanager
def transaction(engine: Engine, *, write: bool = True) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with Session(writer(engine) if write else reader(engine), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def streaming_reads(engine: Engine) -> Session:
    """A session for one long read that its caller closes (``Session.close``): a read
    transaction, which a PostgreSQL server-side cursor needs (``reader``'s autocommit has
    none), and on SQLite a deferred BEGIN, one snapshot that never takes the write lock.
    Closing it rolls the transaction back: it has written nothing."""
    return Session(engine, expire_on_commit=False)


@contextmanager
def reads_beside(session: Session) -> Iterator[Session]:
    """A session beside a write transaction, for its preliminary reads, that holds none of
    its locks: another connection of the pool, without a transaction (``reader``).

    On SQLite the writer's BEGIN IMMEDIATE then waits until its first write, and SQLite's
    one write lock is held for the writes alone. On PostgreSQL no BEGIN and COMMIT round
    trips, and a statement written there is a transaction of its own.
    """
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    with Session(reader(engine)) as reads:
        yield reads


def without_waiting_for_disk(session: Session) -> None:
    """Commit this PostgreSQL transaction without waiting for its WAL to reach the disk
    (``synchronous_commit`` off, for this transaction alone): for rows a crash may lose
    without losing a record, as a retry redoes them. SQLite (WAL, synchronous NORMAL) never
    waits for the disk at COMMIT anyway."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit TO OFF"))


def advisory_lock(session: Session, name: str, *, wait: bool = True) -> bool:
    """Hold an advisory lock on ``name`` until the transaction ends; False if it is busy and
    ``wait`` is False, else wait for it.

    PostgreSQL: an advisory transaction lock. Advisory locks are database-wide: the key is
    taken from the name *and* the schema, so two ledgers in one database (tests,
    benchmarks, tenants) never block each other.

    SQLite: a file lock beside the database file (``ledger.file_locks``), excluding other
    processes and other threads alike, released when the session's transaction ends. An
    in-memory database (no file), or a system without ``fcntl``, locks nothing: True.
    A *waiting* request inside a transaction that takes SQLite's write lock (``writer``:
    the scheduler's integrator, an event id, an audit request) locks nothing, as before:
    the write lock already serialises those transactions whole, and waiting there can
    deadlock. The scheduler's integrator holds the write lock (its first read began the
    transaction) and waits for the integrator's file lock, which the web's integrator
    (``wait=False``) took before its first statement and holds while waiting for the
    write lock. A request with ``wait=False`` never waits, so it locks in any transaction;
    nor should a plain transaction that has written wait for a lock: the same deadlock.
    """
    bind = session.get_bind()
    if bind.dialect.name == "sqlite":
        database = file_locks.database_file(bind.engine.url)
        writes = bind.get_execution_options().get("sqlite_begin") == "IMMEDIATE"
        if database is None or (wait and writes):
            return True
        return file_locks.hold_for_transaction(session, database, name, wait=wait)
    if bind.dialect.name != "postgresql":
        return True
    key = "hashtext(current_schema() || ':' || :name)"
    if wait:
        session.execute(text(f"SELECT pg_advisory_xact_lock({key})"), {"name": name})
        return True
    query = text(f"SELECT pg_try_advisory_xact_lock({key})")
    return bool(session.execute(query, {"name": name}).scalar())


def alembic_config(url: str) -> Any:
    """The Alembic configuration for ``url``."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Run the migrations up to ``revision``."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    """The migration the database is at (None: never migrated)."""
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
