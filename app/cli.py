"""``flask`` commands: db upgrade, demo seed, ledger integrate|checkpoint|audit, jobs run."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from app.runtime import runtime
from ledger import log
from ledger.store import transaction, upgrade

db_cli = AppGroup("db", help="Database schema.")
demo_cli = AppGroup("demo", help="Demo data.")
ledger_cli = AppGroup("ledger", help="The global log: integrate, checkpoint, audit.")
jobs_cli = AppGroup("jobs", help="Scheduled jobs.")


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Run the migrations to the newest schema."""
    upgrade(current_app.config["DATABASE_URL"])
    click.echo("database is at the newest schema")


@demo_cli.command("seed")
def demo_seed() -> None:
    """Create the demo data (idempotent) and write instance/demo.json."""
    from app.demo import seed

    rt = runtime()
    out = Path(current_app.instance_path) / "demo.json"
    with transaction(rt.engine) as session:
        doc = seed(session, rt.authority, rt.now(), out)
    click.echo(f"demo ready: {len(doc['tokens'])} tokens in {out}")


@ledger_cli.command("integrate")
def ledger_integrate() -> None:
    """Give every pending event its leaf index."""
    rt = runtime()
    total = 0
    while True:
        with transaction(rt.engine) as session:
            result = log.integrate(session)
        total += result.new_size - result.old_size
        if result.new_size == result.old_size:
            break
    click.echo(f"integrated {total} events; tree size {result.new_size}")


@ledger_cli.command("checkpoint")
def ledger_checkpoint() -> None:
    """Integrate, then sign and store a checkpoint."""
    ledger_integrate.callback()  # type: ignore[misc]
    rt = runtime()
    with transaction(rt.engine) as session:
        row = log.publish_checkpoint(session, rt.authority.server, rt.authority.origin)
    click.echo(row.note, nl=False)


@ledger_cli.command("audit")
@click.option("--key", "vkey", help="Checkpoint verifier key (default: this instance's key).")
@click.option("--workers", type=int, default=None, help="Worker processes (default: all cores).")
def ledger_audit(vkey: str | None, workers: int | None) -> None:
    """Recompute every chain, signature, the tree and every checkpoint; exit 1 on any defect."""
    from app.audit_cli import run_audit

    sys.exit(run_audit(runtime(), vkey, workers))


@jobs_cli.command("run")
@click.option("--every", default=10.0, help="Seconds between integrate+checkpoint runs.")
def jobs_run(every: float) -> None:
    """Run the scheduler process (integrate and checkpoint on a cadence)."""
    from app.jobs import run_scheduler

    run_scheduler(current_app._get_current_object(), every)  # type: ignore[attr-defined]


def init_app(app: Flask) -> None:
    """Register the command groups."""
    for group in (db_cli, demo_cli, ledger_cli, jobs_cli):
        app.cli.add_command(group)
