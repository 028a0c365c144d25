"""``flask jobs``: the scheduler process (``jobs run``) and one job now (``jobs once``)."""

from __future__ import annotations

import sys

import click
from flask import current_app

from app.cli_group import CommandGroup, seconds_between
from app.runtime import runtime

# The names of app.jobs.JOBS (not imported here: the web workers need no scheduler).
JOB_NAMES = (
    "integrate", "expiry_sweep", "stale_report", "audit", "requested_audit", "partitions",
    "purge_reports", "purge_deliveries",
)  # fmt: skip

jobs_cli = CommandGroup("jobs", help="Scheduled jobs.")


@jobs_cli.command("run")
@click.option(
    "--every",
    default=10.0,
    callback=seconds_between(0.1, 3600),
    help="Seconds between integrate+checkpoint runs (0.1–3600).",
)
@click.option(
    "--sweep-every",
    default=3600.0,
    callback=seconds_between(60, 86400),
    help="Seconds between expiry sweeps (60–86400).",
)
def jobs_run(every: float, sweep_every: float) -> None:
    """Run the scheduler process: integrate+checkpoint, expiry sweep, stale report, audit."""
    from app.scheduler import run_scheduler

    runtime().authority  # noqa: B018  (keys read or created now: a bad file stops the start)
    run_scheduler(current_app._get_current_object(), every, sweep_every)  # type: ignore[attr-defined]


@jobs_cli.command("once")
@click.argument("job", type=click.Choice(JOB_NAMES))
def jobs_once(job: str) -> None:
    """Run one job now (as the scheduler would, under its lock); print its result as JSON."""
    import json

    from app.jobs import JOBS

    result = JOBS[job](current_app._get_current_object())  # type: ignore[attr-defined]
    click.echo(json.dumps(result, ensure_ascii=False, default=str))
    sys.exit(0 if result["status"] in ("done", "busy") else 1)
