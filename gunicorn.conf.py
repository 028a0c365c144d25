"""gunicorn settings for the web: ``gunicorn wsgi:app`` (this file is read from the cwd).

Workers and threads were chosen by measurement (``bench/load.py --configs``, figures in
docs/scale.md §A.4): on the 2-core test machine, one connection per request as nginx sends
them, 2 processes of 4 threads (gthread) answered ~15–20 % more fill checks than 2×8 on
PostgreSQL with a lower p99, and as many as 2×8 on SQLite (2×2 did as well there); 4×4
added little but a worker's memory. A check waits on its database a good part of the
time, so a few threads help; beyond that they only contend for the GIL.
Override with WEB_CONCURRENCY / WEB_THREADS per host.
The scheduler is NOT run here: it is its own process (``flask --app wsgi jobs run``).
"""

from __future__ import annotations

import atexit
import datetime as dt
import gc
import json
import logging
import logging.handlers
import multiprocessing
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from gunicorn import glogging
from gunicorn.arbiter import Arbiter
from sqlalchemy.exc import SQLAlchemyError

from ledger.keys import KeyFileError
from ledger.settings import ConfigError, whole_number

# Prometheus multiprocess mode: every worker writes its metrics to files in this folder and
# any worker's /metrics adds them up. It must be set before a worker imports the app.
# Unset (a server started by hand; the units set /run/ledger-web): a folder of this master's
# own in the temp folder, removed when the master exits. Made here already, since
# ``--check-config`` loads the app without running on_starting.
_own_metrics_dir = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
_metrics_dir = os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR",
    str(Path(tempfile.gettempdir()) / f"ledger-prometheus-{os.getpid()}"),
)
os.makedirs(_metrics_dir, exist_ok=True)
_master_pid = [os.getpid()]  # the master's, once on_starting runs (after --daemon's fork)


@atexit.register
def _remove_own_metrics_dir() -> None:
    """The master's own temp metrics folder goes with it (never at a worker's exit). A new
    master of a USR2 upgrade starts from gunicorn's original environment: its own folder."""
    if _own_metrics_dir and os.getpid() == _master_pid[0]:
        shutil.rmtree(_metrics_dir, ignore_errors=True)


# A write's integration into the log runs in a thread of its worker, not in the request
# (app/config.py): the answer does not wait for it, and a burst of writes is one integration.
os.environ.setdefault("INTEGRATE_AFTER_WRITE", "background")

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")


def _whole_number(name: str) -> int:
    """A whole-number setting, or gunicorn stops here with one line naming it."""
    try:
        return whole_number(os.environ, name)
    except ConfigError as exc:
        sys.exit(f"Error: {exc}")


# Unset: min(2, the cores). (Set but not a number, or blank, gunicorn itself refuses it
# before reading this file.)
workers = (
    _whole_number("WEB_CONCURRENCY")
    if "WEB_CONCURRENCY" in os.environ
    else min(2, multiprocessing.cpu_count())
)
worker_class = "gthread"
threads = _whole_number("WEB_THREADS")
# Fill checks answer in milliseconds; anything slower than this is stuck, not busy.
timeout = 30
graceful_timeout = 20
keepalive = 5
# Recycle workers now and then, so a slow leak can never grow a worker past its budget.
max_requests = 20_000
max_requests_jitter = 2_000
# Logs: the app writes JSON lines (app/logging.py); gunicorn's own go to stderr too, as JSON
# lines of the same keys (JsonLines below).
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()


class JsonLineFormatter(logging.Formatter):
    """A record as one JSON object on one line, with the keys of the app's lines
    (``timestamp``, ``level``, ``logger``, ``event``), the process id, and a traceback in
    ``exception``: the journal stays one object a line, and a log pipeline reads gunicorn's
    most telling lines (a worker timeout or killed, an error while sending an answer) too.
    Plain ``json`` rather than the app's structlog set-up: the master never imports the app.
    """

    def format(self, record: logging.LogRecord) -> str:
        created = dt.datetime.fromtimestamp(record.created, dt.UTC)
        line: dict[str, Any] = {
            "event": record.getMessage(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "timestamp": created.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class JsonLines(glogging.Logger):
    """gunicorn's logger, the lines it writes to ``errorlog`` rendered by
    ``JsonLineFormatter``. Left as they are: its syslog handler (``syslog = True``: its
    lines keep their tag), and handlers of a ``logconfig`` of the operator's own. Setting
    ``statsd_host`` needs gunicorn's default logger class (it switches to its statsd logger
    only then): metrics here are Prometheus's (deploy.md §7)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for handler in self.error_log.handlers:
            ours = getattr(handler, "_gunicorn", False)
            if ours and not isinstance(handler, logging.handlers.SysLogHandler):
                handler.setFormatter(JsonLineFormatter())


logger_class = JsonLines
proc_name = "cylinder-ledger-web"
# No control socket (gunicorn ≥ 25.1): it would be made in $HOME/.gunicorn, read-only under
# the unit's ProtectSystem=strict; systemd and signals manage the server.
control_socket_disable = True


def on_starting(server: Any) -> None:
    """Start with an empty metrics folder (files of a previous run would be added up), unless
    this is the new master of a USR2 upgrade: the old one's workers may still write there."""
    _master_pid[0] = os.getpid()
    if not getattr(server, "master_pid", 0):
        shutil.rmtree(_metrics_dir, ignore_errors=True)
    os.makedirs(_metrics_dir, exist_ok=True)
    # A bad setting stops the start here, as gunicorn's one line "Error: …", before any
    # worker is spawned (a worker failing on it would be a traceback per worker).
    from ledger.settings import check_environment, load_jurisdiction

    check_environment(os.environ)
    instance = os.environ.get("LEDGER_INSTANCE") or Path(__file__).resolve().parent / "instance"
    load_jurisdiction(os.environ.get("JURISDICTION"), Path(instance))  # as the app will


def child_exit(server: Any, worker: Any) -> None:
    """A dead worker's live gauges must stop counting (prometheus_client multiprocess)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def post_worker_init(worker: Any) -> None:
    """Read (or create) the server's keys before the first request: a bad key file stops
    the worker at its start with the file's name, not a request later (app.runtime.KeyRing)."""
    ledger = getattr(worker.wsgi, "extensions", {}).get("ledger")  # not bench's hello app
    if ledger is None:
        return
    try:
        ledger.authority  # noqa: B018
    except KeyFileError as exc:  # one line naming the file; the master stops (boot error)
        worker.log.error("%s", exc)
        sys.exit(Arbiter.WORKER_BOOT_ERROR)
    except SQLAlchemyError as exc:  # a missing key is checked against the database first
        worker.log.warning(
            "keys not read at start, the database is unavailable (%s): read at the first "
            "request that needs them", type(exc).__name__,
        )  # fmt: skip
    # What the worker has made so far (the app, its modules: ~150,000 objects) lives as long
    # as it does: leave it out of the collector's full passes. One took ~120 ms, every thread
    # stopped, and SQLite's read-only recovery runs one (ledger.sqlite_reopen); 0.3 ms after
    # (bench/request_cost.py). Collected first, so no garbage is kept for good.
    gc.collect()
    gc.freeze()
