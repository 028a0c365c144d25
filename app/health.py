"""健康检查 The probe of a load balancer or a monitor: ``GET /healthz``, no token.

200 ``{"status": "ok", "database": "up"}`` when this worker answers and its database does
(one read of the ``log_state`` table outside any transaction: no lock, nothing written).
A database that is down answers as every route does, 503 problem+json with Retry-After
(``app.outage``), as does one that answers without the ledger's tables (saying to run
``db upgrade``). It says nothing about the ledger's contents; whether the scheduler runs
is for the metrics (``ledger_checkpoint_age_seconds``, docs/deploy.md §7), as is a
database that reads but refuses writes (a full disk, a read-only file: 200 here, counted
by ``ledger_database_refusals_total``).
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy.engine import Engine

from ledger.store import reader


def init_app(app: Flask) -> None:
    engine: Engine = reader(app.extensions["ledger"].engine)

    @app.get("/healthz", endpoint="healthz")
    def healthz() -> dict[str, str]:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1 FROM log_state LIMIT 1")  # a table, not just a socket
        return {"status": "ok", "database": "up"}
