"""The scheduler process: one APScheduler 3.x process, never inside web workers."""

from __future__ import annotations

from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from ledger import log
from ledger.store import transaction


def integrate_and_checkpoint(app: Flask) -> None:
    """Integrate everything pending and publish a checkpoint (idempotent)."""
    rt = app.extensions["ledger"]
    with transaction(rt.engine) as session:
        log.integrate(session)
        log.publish_checkpoint(session, rt.authority.server, rt.authority.origin)


def run_scheduler(app: Flask, every: float) -> None:
    """Block, running the jobs until interrupted."""
    scheduler = BlockingScheduler(timezone="UTC")
    scheduler.add_job(
        integrate_and_checkpoint,
        "interval",
        seconds=every,
        args=[app],
        max_instances=1,
        coalesce=True,
        id="integrate",
    )
    scheduler.start()
