"""The scheduler process (``flask --app wsgi jobs run``): the jobs of ``app.jobs`` on their
cadences in one APScheduler 3.x process, never inside the web workers; stopped by SIGTERM
once its running jobs finish."""

from __future__ import annotations

import datetime as dt
import signal
import threading
from typing import Any

from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from app.job_guard import logger
from app.jobs import JOBS, expiry_sweep, integrate_and_checkpoint, requested_audit
from ledger import job_status


def run_scheduler(app: Flask, every: float, sweep_every: float = 3600.0) -> None:
    """Block, running the jobs until interrupted."""
    scheduler = BlockingScheduler(timezone=app.config["LOCAL_TIMEZONE"])  # the city's nights
    common = {"args": [app], "max_instances": 1, "coalesce": True, "misfire_grace_time": 3600}
    scheduler.add_job(integrate_and_checkpoint, "interval", seconds=every, id="integrate", **common)
    # A regulator waits for the audit asked for on the overview: looked for every 15 s.
    scheduler.add_job(requested_audit, "interval", seconds=15, id="requested_audit", **common)
    scheduler.add_job(
        expiry_sweep, "interval", seconds=sweep_every, id="expiry_sweep",
        next_run_time=dt.datetime.now(dt.UTC), **common,
    )  # fmt: skip
    # Nightly by the jurisdiction's clock (job_status.NIGHTLY_HOURS), and once at start-up: a
    # missed night (scheduler down) is caught up at once.
    # Tried again every hour after its hour until it has run that day (``_daily`` records
    # a run once per day): a night whose run failed (database away, disk full) is not lost.
    for name, hour in job_status.NIGHTLY_HOURS.items():
        fn = JOBS[name]
        scheduler.add_job(fn, "cron", hour=f"{hour}-23", minute=0, id=name, **common)
        scheduler.add_job(fn, "date", run_date=dt.datetime.now(dt.UTC), id=f"{name}-start",
                          args=[app])  # fmt: skip
    _stop_on_signals(scheduler)
    logger.info("scheduler started", every=every, sweep_every=sweep_every)
    scheduler.start()
    logger.info("scheduler stopped")


def _stop_on_signals(scheduler: BlockingScheduler) -> None:
    """SIGTERM (systemd's stop) and SIGINT end the scheduler after its running jobs finish
    (a webhook POST in flight is recorded, not sent again next run); systemd's
    ``TimeoutStopSec`` bounds the wait. A signal before the scheduler runs ends the process
    at once (no job has started), and a second signal while stopping changes nothing."""
    stopping = threading.Event()

    def stop(signum: int, _frame: Any) -> None:
        if stopping.is_set():
            return  # already waiting for the running jobs
        stopping.set()
        name = signal.Signals(signum).name
        if not scheduler.running:
            logger.info("scheduler stopped before it started", signal=name)
            raise SystemExit(0)
        logger.info("scheduler stopping: waiting for running jobs", signal=name)
        scheduler.shutdown(wait=True)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop)
