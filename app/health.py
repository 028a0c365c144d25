"""健康检查 The probe of a load balancer or a monitor: ``GET /healthz``, no token.

200 ``{"status": "ok", "database": "up"}`` when this worker answers and its database does
(one read of the ``log_state`` table outside any transaction: no lock, nothing written).
A database that is down answers as every route does, 503 problem+json with Retry-After
(``app.outage``); one that answers but has no ledger tables (``db upgrade`` not run, or
the wrong database named) 503 saying so. It says nothing about the ledger's contents;
whether the scheduler runs is for the metrics (``ledger_checkpoint_age_seconds``,
docs/deploy.md §7).
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from app.problems import problem
from ledger.store import reader

NOT_MIGRATED = (
    "数据库没有账本的表：请运行 flask --app wsgi db upgrade，或检查 DATABASE_URL / the "
    "database has no ledger tables: run flask --app wsgi db upgrade, or check DATABASE_URL"
)


def init_app(app: Flask) -> None:
    engine: Engine = reader(app.extensions["ledger"].engine)

    @app.get("/healthz", endpoint="healthz")
    def healthz() -> Any:
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1 FROM log_state LIMIT 1")  # a table, not a socket
        except DBAPIError:
            with engine.connect() as conn:  # down: app.outage's 503, as every route
                if inspect(conn).has_table("log_state"):
                    raise
            body, status, headers = problem(503, "Service Unavailable", NOT_MIGRATED)
            return body, status, {**headers, "Retry-After": "30"}
        return {"status": "ok", "database": "up"}
