"""gunicorn settings for the web: ``gunicorn wsgi:app`` (this file is read from the cwd).

Workers and threads were chosen by measurement (``bench/load.py --configs``, figures in
docs/scale.md §1a): on the 2-core test machine with PostgreSQL, 2 processes of 8 threads
(gthread) answered about twice the fill checks of 2×4, 1×4, 2×2 or 4×2 at 16 connections,
with the lowest p99: a check spends most of its time waiting for its commit, so threads
help and processes beyond the cores only add memory. On SQLite more threads make writers
wait on the file lock (p99 over a second at 2×8): set WEB_THREADS=2 there.
Override with WEB_CONCURRENCY / WEB_THREADS per host.
The scheduler is NOT run here: it is its own process (``flask --app wsgi jobs run``).
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

# Prometheus multiprocess mode: every worker writes its metrics to files in this folder and
# any worker's /metrics adds them up. It must be set before a worker imports the app.
_metrics_dir = os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR",
    str(Path(tempfile.gettempdir()) / f"ledger-prometheus-{os.getpid()}"),
)

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", str(min(2, multiprocessing.cpu_count()) or 1)))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "8"))
# Fill checks answer in milliseconds; anything slower than this is stuck, not busy.
timeout = 30
graceful_timeout = 20
keepalive = 5
# Recycle workers now and then, so a slow leak can never grow a worker past its budget.
max_requests = 20_000
max_requests_jitter = 2_000
# Logs: the app writes JSON lines (app/logging.py); gunicorn's own go to stderr too.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
proc_name = "cylinder-ledger-web"


def on_starting(server: Any) -> None:
    """Start with an empty metrics folder (files of a previous run would be added up)."""
    shutil.rmtree(_metrics_dir, ignore_errors=True)
    os.makedirs(_metrics_dir, exist_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    """A dead worker's live gauges must stop counting (prometheus_client multiprocess)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
