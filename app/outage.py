"""A database that goes away and comes back, or fills its disk: no traceback, no lost write.

There is no pool pre-ping (ledger/store.py: it costs a round trip per transaction). After
PostgreSQL drops its connections (a restart, a failover, ``pg_terminate_backend``) the
first request of each worker meets a dead pooled connection; SQLAlchemy marks that error
``connection_invalidated`` and invalidates the whole pool, so every later checkout
connects afresh. That first request is run again, once, from the start (its body is
buffered) when it is safe:

- nothing was committed yet in the failed attempt (no COMMIT was sent: a transaction
  whose statement failed on a dead connection recorded nothing), reads and writes alike;
  an attempt that did commit something first (an idempotency claim on a fresh connection,
  then the view on a dead one) is not run again: it answers 503 and the client retries;
- a disconnect *during* COMMIT is ambiguous (the server may have committed before the
  connection died): never retried here, answered 503 with Retry-After, and the client's
  ``Idempotency-Key`` makes its own retry safe.

A database that is down answers 503 problem+json with Retry-After; a full disk (SQLite's
"database or disk is full", or its "disk I/O error" on a write that hit a file-size limit;
PostgreSQL's ``disk_full``) answers 507; one without the ledger's tables 503 saying to
run ``db upgrade``. Each says in Chinese first, then English, that
nothing was recorded: SQLite and PostgreSQL roll the whole transaction back.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, g, has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

from app.metrics import DATABASE_REFUSALS
from app.pages.common import is_page_address
from app.pages.http_errors import server_refusal_page
from app.problems import problem, unexpected
from ledger import store
from ledger.sqlite_reopen import (
    SQLITE_CANTOPEN,
    SQLITE_READONLY,
    file_writable,
    reopen_if_writable,
    result_code,
)
from ledger.store_sqlite import SQLITE_BUSY

RETRY = "ledger.outage.retry"  # environ: the handler asks for one more attempt
RETRIED = "ledger.outage.retried"  # environ: this is that attempt
REOPEN = "ledger.outage.reopen"  # environ: a write met a read-only SQLite connection
COMMIT_SENT = "db_commit_sent"  # g: a (non-autocommit) COMMIT went out in this attempt
# SQLITE_FULL is ENOSPC; a file-size limit (EFBIG) or a failing disk is SQLITE_IOERR_WRITE.
SQLITE_NO_SPACE = frozenset({13, 778})  # SQLITE_FULL, SQLITE_IOERR_WRITE
PG_DISK_FULL = "53100"
PG_QUERY_CANCELED = "57014"  # statement_timeout, or pg_cancel_backend by an operator

DOWN = (
    "数据库暂时不可用，本次操作未记录，请稍后重试 / "
    "database unavailable: nothing was recorded, retry"
)
LOST_AT_COMMIT = (
    "数据库连接在提交时中断，本次写入可能已记录也可能未记录；请用同一 Idempotency-Key 重试 / "
    "the database connection was lost while committing: this write may or may not be "
    "recorded; retry with the same Idempotency-Key"
)
LOST_AT_COMMIT_ON_A_PAGE = (  # a form has no Idempotency-Key to send again
    "数据库连接在提交时中断，本次操作可能已记录也可能未记录：请先查看记录，再决定是否重做 / "
    "the database connection was lost while committing: this may or may not be recorded; "
    "look at the records before doing it again"
)
NOT_MIGRATED = (
    "数据库没有账本的表，本次操作未记录：请运行 flask --app wsgi db upgrade，或检查 "
    "DATABASE_URL / the database has no ledger tables, nothing was recorded: run flask --app "
    "wsgi db upgrade, or check DATABASE_URL"
)
FULL = (
    "存储空间已满或无法写入，本次写入未记录；释放磁盘空间后重试 / storage full or not "
    "writable: nothing was recorded; retry once disk space is freed"
)
TOO_SLOW = (
    "数据库查询超时或被取消，本次操作未记录；请缩小查询范围（如减少天数）或稍后重试 / the "
    "database statement timed out or was cancelled: nothing was recorded; narrow the "
    "query (fewer days) or retry later"
)
LOCKED = (
    "数据库正被另一进程锁定（备份、修复或长时间运行的命令），本次操作未记录，请稍后重试 / the "
    "database is locked by another process (a backup, a repair, a long command): nothing "
    "was recorded, retry"
)
NOT_WRITABLE = (
    "数据库文件无法写入（文件或目录权限、只读文件系统），本次操作未记录；请检查后重试 / the "
    "database file cannot be written (file or folder permissions, a read-only file system): "
    "nothing was recorded; retry once it is writable"
)


def init_app(app: Flask) -> None:
    """Watch commits, retry a request that met a dropped connection, map database errors.

    Call after ``runtime.init_app`` (it needs the engine) and before anything else wraps
    ``app.wsgi_app`` (ProxyFix must not see a request twice).
    """
    engine: Engine = app.extensions["ledger"].engine
    event.listen(engine, "commit", _note_commit)
    limit = int(app.config.get("MAX_CONTENT_LENGTH") or 256 * 1024)
    app.wsgi_app = RetryOnDisconnect(  # type: ignore[method-assign]
        app.wsgi_app, limit, lambda: reopen_if_writable(engine)
    )

    @app.errorhandler(ProgrammingError)  # PostgreSQL's undefined table; else a 500
    def _schema_error(error: DBAPIError) -> Any:
        if not store.is_not_migrated(error):
            return unexpected(error)  # any other SQL error: the app's own 500
        app.logger.error("database has no ledger tables: %s", error.orig)
        return refusal(503, "Service Unavailable", NOT_MIGRATED, "not_migrated", 30)

    @app.errorhandler(OperationalError)
    def _database_error(error: OperationalError) -> Any:
        if store.is_not_migrated(error):  # SQLite's "no such table", or no file at all
            return _schema_error(error)
        if is_disk_full(error):
            app.logger.error("storage full or not writable: %s", error.orig)
            return refusal(507, "Insufficient Storage", FULL, "storage_full", 30)
        committed = g.get(COMMIT_SENT, False)
        if getattr(error.orig, "sqlstate", None) == PG_QUERY_CANCELED:
            app.logger.warning("database statement cancelled: %s", error.orig)
            return refusal(503, "Service Unavailable", TOO_SLOW, "statement_cancelled", 30)
        if result_code(error.orig) == SQLITE_BUSY:
            app.logger.warning("database locked by another process: %s", error.orig)
            return refusal(503, "Service Unavailable", LOCKED, "locked", 5)
        if result_code(error.orig) in (SQLITE_READONLY, SQLITE_CANTOPEN):
            # Once the file may be written again, this process's connections opened before
            # are closed (ledger.sqlite_reopen) and the request is run again afresh; until
            # then a second attempt would meet the same refusal.
            app.logger.error("database file not writable: %s", error.orig)
            request.environ[REOPEN] = True  # once this attempt is over (its traceback too)
            if not committed and _may_retry() and file_writable(engine):
                request.environ[RETRY] = True
            return refusal(503, "Service Unavailable", NOT_WRITABLE, "not_writable", 30)
        if error.connection_invalidated and committed and error.statement is None:
            # No statement: the connection died in COMMIT itself (statements name theirs).
            app.logger.warning("database connection lost during COMMIT: %s", error.orig)
            return refusal(503, "Service Unavailable", LOST_AT_COMMIT, "lost_at_commit")
        if error.connection_invalidated and not committed and _may_retry():
            app.logger.warning("database connection lost; request run again: %s", error.orig)
            request.environ[RETRY] = True
        else:
            app.logger.warning("database unavailable: %s", error.orig)
        return refusal(503, "Service Unavailable", DOWN, "down")


def is_disk_full(error: OperationalError) -> bool:
    """Whether the database could not write for lack of space (or a disk that fails writes)."""
    orig = error.orig
    return (
        getattr(orig, "sqlite_errorcode", None) in SQLITE_NO_SPACE
        or getattr(orig, "sqlstate", None) == PG_DISK_FULL
    )


def refusal(status: int, title: str, detail: str, cause: str, retry_after: int = 2) -> Any:
    """A database's refusal as a problem document with Retry-After, counted by ``cause``
    (``ledger_database_refusals_total``) unless the request is to be run again: then its
    second attempt's answer is the one the client gets, and counts."""
    if not request.environ.get(RETRY):
        DATABASE_REFUSALS.labels(cause).inc()
    if is_page_address(request.path):  # a person's page: a page, in the page's language
        page_detail = LOST_AT_COMMIT_ON_A_PAGE if detail == LOST_AT_COMMIT else detail
        return server_refusal_page(status, page_detail, {"Retry-After": str(retry_after)})
    body, status, headers = problem(status, title, detail)
    return body, status, {**headers, "Retry-After": str(retry_after)}


def _may_retry() -> bool:
    env = request.environ
    return not env.get(RETRIED) and env.get(RetryOnDisconnect.REPLAYABLE, False)


def _note_commit(conn: Connection) -> None:
    # Fired before COMMIT is sent. Reads (ledger.store.reader) commit nothing: PostgreSQL's
    # autocommit, SQLite's statements without a BEGIN.
    if has_request_context() and not store.reads_only(conn):
        g.setdefault(COMMIT_SENT, True)


StartResponse = Callable[..., Any]


class RetryOnDisconnect:
    """WSGI middleware: run a request a second time when its first attempt asked for it.

    The body is read up front (bounded by MAX_CONTENT_LENGTH) so it can be replayed; the
    first attempt's answer is held back, closed and thrown away, so its after-request
    hooks (an idempotency claim released, a log line) have run and the second attempt
    starts clean.
    """

    REPLAYABLE = "ledger.outage.replayable"

    def __init__(
        self,
        app: Callable[[dict[str, Any], StartResponse], Iterable[bytes]],
        limit: int,
        reopen: Callable[[], bool] = lambda: False,
    ):
        self.app, self.limit, self.reopen = app, limit, reopen

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        body = self._buffer(environ)
        if body is None:
            return self.app(environ, start_response)
        environ[self.REPLAYABLE] = True
        held: list[Any] = []

        def hold(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            held[:] = [status, headers, exc_info]
            return _no_write

        result = self.app(environ, hold)
        if environ.pop(REOPEN, False):
            self._reopen()
        if not environ.pop(RETRY, False):
            start_response(*held)
            return result
        _close(result)
        environ[RETRIED] = True
        environ["wsgi.input"] = io.BytesIO(body)
        return self.app(environ, start_response)

    def _reopen(self) -> None:
        if self.reopen():
            logging.getLogger(__name__).warning(
                "database file writable again: idle connections closed, to open afresh"
            )

    def _buffer(self, environ: dict[str, Any]) -> bytes | None:
        """The request body, now in memory; None when it cannot be replayed."""
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            return None
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None
        if length > self.limit:
            return None  # Flask answers 413 without reading it
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        environ["wsgi.input"] = io.BytesIO(body)
        return bytes(body)


def _no_write(_data: bytes) -> None:
    raise RuntimeError("the write() callable is not supported")


def _close(result: Iterable[bytes]) -> None:
    close = getattr(result, "close", None)
    if close is not None:
        close()
