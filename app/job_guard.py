"""One scheduler job's frame: its transaction, its advisory lock, its errors logged.

Every job of ``app.jobs`` runs in ``guarded``: a second scheduler process skips a job the
first is running, and a database or system error is logged and changes nothing (the next
run retries).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import Session

from app.logging import get_logger
from app.runtime import Runtime
from ledger.store import advisory_lock, transaction

Result = dict[str, Any]
logger = get_logger("app.jobs")


def guarded(
    app: Flask, name: str, body: Callable[[Runtime, Any], Result], *, write: bool = True
) -> Result:
    """Run one job in a transaction under its advisory lock; never raises a database error.

    ``write=False`` (the long daily jobs): the lock is held in a plain transaction that takes
    no write lock on SQLite, so the web keeps writing while an audit runs; the job writes
    its record in a short transaction of its own.
    """
    rt: Runtime = app.extensions["ledger"]
    try:
        with _session(rt, write) as session:
            if not advisory_lock(session, f"job:{name}", wait=False):
                logger.info("job skipped: another scheduler runs it", job=name)
                return {"job": name, "status": "busy"}
            result = {"job": name, "status": "done", **body(rt, session)}
    except (OperationalError, DBAPIError) as exc:
        logger.error("job failed: database error, will retry", job=name, error=str(exc)[:300])
        return {"job": name, "status": "error", "error": str(exc)[:300]}
    except OSError as exc:  # a full disk or a folder gone: the verdict file, the webhook
        logger.error("job failed: system error, will retry", job=name, error=str(exc)[:300])
        return {"job": name, "status": "error", "error": f"{type(exc).__name__}: {exc}"[:300]}
    logger.info("job done", **result)
    return result


@contextmanager
def _session(rt: Runtime, write: bool) -> Iterator[Session]:
    if write:
        with transaction(rt.engine) as session:
            yield session
        return
    with Session(rt.engine) as session, session.begin():
        if rt.engine.dialect.name == "postgresql":
            # This connection only holds the lock while the job works on others: a server
            # that ends idle transactions (idle_in_transaction_session_timeout) would
            # release it mid-job, and a second scheduler would run the same job at once.
            session.execute(text("SET LOCAL idle_in_transaction_session_timeout = 0"))
            if (session.connection().dialect.server_version_info or (0,)) >= (17,):
                session.execute(text("SET LOCAL transaction_timeout = 0"))  # same, since 17
        yield session
