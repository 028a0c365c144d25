"""Advisory locks for SQLite: an OS file lock per name, held until the session's transaction
ends, like PostgreSQL's ``pg_advisory_xact_lock`` (``ledger.store.advisory_lock``).

Each acquisition opens its own ``<database file>.locks/<name>-<hash>.lock`` and takes an
exclusive ``flock`` on it. A flock belongs to the open file description, so it excludes
another process and another thread (another ``open()``) of this one alike; the OS drops it
when its process dies. It is released (unlocked, closed) when the session's outermost
transaction ends: commit, rollback, or the session closed without either.

The lock files are never removed: removing a file another process is about to lock would
let two holders lock two different files under one name. There is one per name used.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from pathlib import Path
from typing import IO, Any

from sqlalchemy import event
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock; the project targets Linux
    fcntl = None  # type: ignore[assignment]

# What a connection to a SQLite file that is not there says (``store_sqlite``'s engines
# that never make the file), and so does a lock beside it: nothing is made beside it either.
NO_DATABASE_FILE = "no such database file"
_HELD = "ledger.file_locks.held"  # session.info: name → the open, locked file
_LISTENING = "ledger.file_locks.listening"


def database_file(url: URL) -> Path | None:
    """The SQLite database file of ``url``; None for an in-memory database."""
    database = url.database or ""
    if database in ("", ":memory:") or url.query.get("mode") == "memory":
        return None
    if database.startswith("file:"):  # a URI filename (``?uri=true``)
        database = database.removeprefix("file:").split("?", 1)[0]
    return Path(database)


def missing(database: Path) -> str:
    """The error of a SQLite database file that is not there."""
    return f"{NO_DATABASE_FILE}: {database}"


def lock_path(database: Path, name: str) -> Path:
    """The lock file of ``name``: readable, and unique by the hash of the whole name."""
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:48]
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    return database.with_name(database.name + ".locks") / f"{readable}-{digest}.lock"


def hold_for_transaction(session: Session, database: Path, name: str, *, wait: bool) -> bool:
    """Lock ``name`` until ``session``'s transaction ends; False at once if another holds it
    and ``wait`` is False, else block until it is free. True again for a name this session
    already holds (as PostgreSQL's locks are re-entrant). True, locking nothing, where
    there is no ``fcntl`` (Windows).

    A lock file that cannot be opened (the database's folder missing or read-only), or a
    database file that is not there, raises ``OperationalError``, as the database itself
    would: callers handle it as one.
    """
    if fcntl is None:  # pragma: no cover
        return True
    held: dict[str, IO[bytes]] = session.info.setdefault(_HELD, {})
    if name in held:
        return True
    if session.get_transaction() is None:
        session.begin()  # the lock is the transaction's: there must be one to end
    if not database.exists():  # a mistyped path: no lock folder beside nothing
        raise OperationalError(None, None, sqlite3.OperationalError(missing(database)))
    path = lock_path(database, name)
    try:
        path.parent.mkdir(exist_ok=True)
        file = path.open("ab")
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        orig = sqlite3.OperationalError(f"unable to open database lock file {path}: {reason}")
        raise OperationalError(None, None, orig) from exc
    try:
        fcntl.flock(file, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        file.close()
        return False
    except BaseException:
        file.close()
        raise
    held[name] = file
    if not session.info.get(_LISTENING):
        event.listen(session, "after_transaction_end", _on_transaction_end)
        session.info[_LISTENING] = True
    return True


def _on_transaction_end(session: Session, transaction: Any) -> None:
    """Release every lock of the session when its outermost transaction ends (a savepoint's
    end keeps them, as PostgreSQL keeps transaction-level locks to the transaction's end).
    ``after_transaction_end`` fires for commit, rollback and close alike; the locks leave
    ``session.info`` first, so each is released exactly once."""
    if transaction.parent is not None:
        return
    for file in session.info.pop(_HELD, {}).values():
        release(file)


def release(file: IO[bytes]) -> None:
    """Unlock (also for a child that inherited the descriptor across a fork) and close."""
    try:
        if fcntl is not None and not file.closed:
            fcntl.flock(file, fcntl.LOCK_UN)
    finally:
        file.close()
