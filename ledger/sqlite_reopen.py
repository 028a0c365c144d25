"""SQLite connections opened while the database could not be written, replaced once it can.

A connection opened while the file, its folder or its file system could not be written
(permissions, a read-only mount) is read-only for good. Worse, SQLite shares a file's
``-shm`` mapping among all the connections of one process: while one connection that
mapped it read-only is alive, every connection the process opens is read-only too. So
once the file may be written, every such connection must be gone before a new one reads:
idle ones in the pool are closed, one in use is closed when next taken from the pool,
and one already closed but still alive (its statements held by an exception's traceback)
is collected.

Whether the file may be written is the operating system's answer (``file_writable``),
asked when a connection opens and when a write is refused, never by writing.
"""

from __future__ import annotations

import gc
import os
import threading
import time
import weakref
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, ExceptionContext
from sqlalchemy.exc import DisconnectionError

from ledger.file_locks import database_file

SQLITE_READONLY, SQLITE_CANTOPEN = 8, 14  # primary result codes

_MARK = "ledger.opened_read_only"  # a connection record's info key
_LOCK = threading.Lock()
# Connections opened read-only and not closed yet, by engine.
_ALIVE: weakref.WeakKeyDictionary[Engine, int] = weakref.WeakKeyDictionary()
_REOPENED: weakref.WeakKeyDictionary[Engine, float] = weakref.WeakKeyDictionary()
_REFUSED: weakref.WeakKeyDictionary[Engine, bool] = weakref.WeakKeyDictionary()
_REOPEN_EVERY = 1.0  # seconds: at most this often when a connection opens, unless refused


def watch(engine: Engine) -> None:
    """Replace ``engine``'s read-only connections once its file may be written. Register
    before any other connect listener: a connection must not read before this runs."""
    event.listen(engine, "connect", lambda _conn, record: _opened(engine, record))
    event.listen(engine, "checkout", lambda _conn, record, _proxy: _taken(engine, record))
    event.listen(engine, "handle_error", lambda context: _refused(engine, context))
    event.listen(engine, "close", lambda _conn, record: _closed(engine, record))
    event.listen(engine, "detach", lambda _conn, record: _closed(engine, record))


def file_writable(engine: Engine) -> bool:
    """Whether the operating system lets this process write the database file, its folder
    and the ``-wal`` and ``-shm`` files that exist (permissions, a read-only mount). False
    for an in-memory database or one opened read-only by its URI (``mode=ro``)."""
    path = database_file(engine.url)
    query = engine.url.query
    if path is None or query.get("mode") == "ro" or query.get("immutable") == "1":
        return False
    folder = path.absolute().parent
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return False
    except (OSError, AttributeError):  # no statvfs (Windows): permissions alone
        pass
    files = [path, *(path.with_name(path.name + s) for s in ("-wal", "-shm"))]
    return os.access(folder, os.W_OK) and all(os.access(f, os.W_OK) for f in files if f.exists())


def reopen_if_writable(engine: Engine) -> bool:
    """If the file may be written now: close the pool's idle connections and collect the
    dead, so that new ones open read-write (those in use close when next taken). Returns
    whether it did so."""
    if not file_writable(engine):
        return False  # still read-only: the open connections serve the reads meanwhile
    with _LOCK:
        _REOPENED[engine] = time.monotonic()
        _REFUSED.pop(engine, None)  # collected here: the next connect need not again
    engine.pool.dispose()  # idle connections only; a connection in use comes back later
    gc.collect()
    return True


def result_code(error: BaseException | None) -> int | None:
    """SQLite's primary result code of a driver error (its extended code's low byte)."""
    code = getattr(error, "sqlite_errorcode", None)
    return None if code is None else int(code) & 0xFF


def _opened(engine: Engine, record: Any) -> None:
    if not file_writable(engine):
        record.info[_MARK] = True
        with _LOCK:
            _ALIVE[engine] = _ALIVE.get(engine, 0) + 1
        return
    with _LOCK:  # a refused write since: its connection may still be alive, collect it
        refused = _REFUSED.pop(engine, False)
        due = refused or (
            _ALIVE.get(engine, 0) > 0
            and time.monotonic() - _REOPENED.get(engine, 0.0) >= _REOPEN_EVERY
        )
    if due:  # before this connection reads, so that it maps the -shm file afresh
        reopen_if_writable(engine)


def _closed(engine: Engine, record: Any) -> None:
    if record.info.pop(_MARK, False):
        with _LOCK:
            _ALIVE[engine] = max(0, _ALIVE.get(engine, 0) - 1)


def _taken(engine: Engine, record: Any) -> None:
    # Opened read-only, and the file may be written now: every idle one is closed first,
    # then this one (the pool opens another in its place).
    if record.info.get(_MARK) and reopen_if_writable(engine):
        raise DisconnectionError("opened while the database file was not writable")


def _refused(engine: Engine, context: ExceptionContext) -> None:
    # A write refused as read-only: once the file may be written, the connection is
    # treated as lost (the pool opens fresh ones). Not before: a fresh one would be as
    # read-only, and each dropped one kept its file handle (SQLite defers closing it while
    # the process holds locks on the file): ~1 handle leaked a refused write.
    code = result_code(context.original_exception)
    if code in (SQLITE_READONLY, SQLITE_CANTOPEN) and file_writable(engine):
        context.is_disconnect = True
        with _LOCK:
            _REFUSED[engine] = True
