"""Engines, sessions and migrations for SQLite (embedded) and PostgreSQL (production)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Insert, Table, bindparam, create_engine, event, func, insert, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from ledger import file_locks
from ledger.store_sqlite import BUSY_TIMEOUT_SECONDS, sqlite_engine

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
PG_UNDEFINED_TABLE = "42P01"  # PostgreSQL's SQLSTATE undefined_table


def make_engine(
    url: str,
    *,
    background_checkpoints: bool = False,
    busy_timeout: float = BUSY_TIMEOUT_SECONDS,
    existing_file_only: bool = False,
    **kwargs: Any,
) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys, a busy timeout (``busy_timeout``
    seconds) and real BEGINs (``ledger.store_sqlite``).

    ``background_checkpoints`` (SQLite, for a serving process): WAL checkpoints run in a
    thread every second instead of inside whichever write crosses the threshold, which
    otherwise costs that one request 10–25 ms (the fill check's p99; bench/fill_check.py).
    ``existing_file_only`` (SQLite): never make the database file (``is_not_migrated``).
    """
    if url.startswith("sqlite"):
        return sqlite_engine(
            url,
            busy_timeout=busy_timeout,
            background_checkpoints=background_checkpoints,
            existing_file_only=existing_file_only,
            **kwargs,
        )
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


def is_not_migrated(error: DBAPIError) -> bool:
    """Whether the database answered but lacks the ledger's tables, or the SQLite file is
    not there: ``db upgrade`` not run, or ``DATABASE_URL`` naming another database (a
    mistyped path)."""
    orig = error.orig
    undefined = getattr(orig, "sqlstate", None) == PG_UNDEFINED_TABLE
    return undefined or str(orig).startswith("no such table") or no_database_file(error)


def no_database_file(error: DBAPIError) -> bool:
    """Whether the SQLite database file is not there (the app's engines never make it)."""
    return str(error.orig).startswith(file_locks.NO_DATABASE_FILE)


def close_engine(engine: Engine) -> None:
    """Close an engine's connections for good: the idle ones now, and each one in use now
    as it is given back. A plain ``dispose`` leaves those in the pool it drops, open until
    the garbage collector finds them (psycopg warns then); the engine still works after,
    on a fresh pool."""
    dropped = engine.pool
    engine.dispose()
    # On the dropped pool only: the fresh one copied its listeners when it was made.
    event.listen(dropped, "checkin", _close_given_back)


def _close_given_back(dbapi_connection: Any, _record: Any) -> None:
    if dbapi_connection is not None:  # None: invalidated, closed already
        dbapi_connection.close()


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


def reads_only(conn: Connection) -> bool:
    """Whether ``conn`` is ``reader``'s: its COMMIT ends no transaction (nothing is written
    through it)."""
    options = conn.get_execution_options()
    return options.get("isolation_level") == "AUTOCOMMIT" or options.get("sqlite_begin") == "NONE"


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


def insert_without_waiting_for_disk(table: Table, columns: Sequence[str]) -> Insert:
    """A one-row INSERT of ``columns`` (bound by name) that, sent on PostgreSQL's autocommit
    connection (``reader``), commits without waiting for its WAL to reach the disk: the
    statement turns ``synchronous_commit`` off for its own implicit transaction (a
    ``set_config`` local to it, read at its commit), so nothing carries over to the
    connection's later work. ``SET LOCAL`` cannot: outside a transaction block it does
    nothing. For rows a crash may lose without losing a record."""
    unsynced = select(func.set_config("synchronous_commit", "off", True)).cte("unsynced")
    values = [bindparam(name, type_=table.c[name].type) for name in columns]
    return insert(table).from_select(list(columns), select(*values).select_from(unsynced))


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
