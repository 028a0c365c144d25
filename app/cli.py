"""``flask`` commands: db upgrade, demo seed, ledger integrate|checkpoint|audit|partitions|
register-event-ids|new-key|verifier-key, jobs run."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask, current_app

from app.cli_group import CommandGroup
from app.key_cli import new_key, verifier_key
from app.runtime import runtime
from ledger import checkpoint_memory, log
from ledger.store import current_revision, transaction, upgrade

db_cli = CommandGroup("db", help="Database schema.")
demo_cli = CommandGroup("demo", help="Demo data.")
ledger_cli = CommandGroup(
    "ledger",
    help="The global log: integrate, checkpoint, audit, partitions, register-event-ids; the "
    "checkpoint key's rotation: new-key, verifier-key.",
)
ledger_cli.add_command(new_key)
ledger_cli.add_command(verifier_key)


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Run the migrations to the newest schema; after a migration of a database in use, the
    state projection is rebuilt from the events (the new code may fold them differently)."""
    from alembic.util.exc import CommandError

    url = current_app.config["DATABASE_URL"]
    before = current_revision(url)
    try:
        upgrade(url)
    except CommandError as exc:  # a revision this code does not know: a newer version's
        raise click.ClickException(
            f"数据库的迁移版本 {before} 不为本程序所知：它由更新版本的程序迁移过；"
            f"请运行该版本，或从备份恢复 / the database is at revision {before!r}, which this "
            f"version does not know ({exc}): it was migrated by a newer version; run that "
            "version, or restore a backup"
        ) from None
    after = current_revision(url)
    click.echo("database is at the newest schema")
    if before is not None and before != after:
        _rebuild_states()


@demo_cli.command("seed")
@click.option("--small", is_flag=True, help="The registry and five cylinders, no year of history.")
def demo_seed(small: bool) -> None:
    """Create the demo district (idempotent) and write instance/demo.json."""
    from app.demo import DemoError, seed

    rt = runtime()
    out = Path(current_app.instance_path) / "demo.json"

    def progress(steps: int, scripts: int) -> None:
        click.echo(f"  … {steps} steps played, {scripts} cylinders still active", err=True)

    if not small and not out.exists():
        click.echo("seeding a year of the demo district (about a minute)…", err=True)
    try:
        with transaction(rt.engine) as session:
            fresh = log.latest_checkpoint(session) is None
            doc = seed(
                session, rt.authority, rt.now(), out, history=not small, params=rt.params,
                progress=progress,
            )  # fmt: skip
            newest = log.latest_checkpoint(session)
            note = newest.note if newest is not None else None
    except DemoError as exc:
        raise click.ClickException(str(exc)) from None
    if fresh and note is not None:  # a new log begins: what an older database signed is moot
        _remember(checkpoint_memory.path_in(rt.keys_dir), note)
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
@click.option(
    "--after-restore",
    is_flag=True,
    help="Sign the stored tree even though it does not extend the last checkpoint this "
    "server signed: only after restoring an older backup and accepting the loss "
    "(docs/deploy.md §8).",
)
def ledger_checkpoint(after_restore: bool) -> None:
    """Integrate, then sign and store a checkpoint; never one that does not extend the last
    this server signed, unless --after-restore."""
    ledger_integrate.callback()  # type: ignore[misc]
    rt = runtime()
    memory = checkpoint_memory.path_in(rt.keys_dir)
    try:
        with transaction(rt.engine) as session:
            row = checkpoint_memory.publish(
                session, rt.authority.server, rt.authority.origin, memory, accept=after_restore
            )
            note = row.note
    except checkpoint_memory.LogForkError as exc:
        raise click.ClickException(
            f"{exc.detail}\n若确认是从较旧的备份恢复并接受丢失的事件 / if this is a restore of an "
            "older backup and the loss is accepted: ledger checkpoint --after-restore"
        ) from None
    _remember(memory, note)
    click.echo(note, nl=False)


def _remember(memory: Path | None, note: str) -> None:
    """Keep the note just committed as the last checkpoint signed (ledger.checkpoint_memory)."""
    if memory is None:
        return
    try:
        checkpoint_memory.remember(memory, note)
    except OSError as exc:
        raise click.ClickException(
            f"检查点已签发，但未能保存到 {memory} / the checkpoint was signed but could not be "
            f"kept in {memory}: {exc}; fix the folder and run ledger checkpoint again"
        ) from None


@ledger_cli.command("rebuild-states")
def ledger_rebuild_states() -> None:
    """Recompute every cylinder's projected state from its events (after changing the
    jurisdiction's parameters, or to prove the projection right)."""
    _rebuild_states()


def _rebuild_states() -> None:
    from ledger import projection

    rt = runtime()
    with transaction(rt.engine) as session:
        count = projection.rebuild(session, rt.params)
    click.echo(f"rebuilt the state of {count} cylinders from their events")


@ledger_cli.command("rebuild-fill-weights")
def ledger_rebuild_fill_weights() -> None:
    """Recompute every fill's net weight on record (the short-weight list's table) from
    the events (a repair the audit names when a row differs)."""
    from ledger import fill_weights

    with transaction(runtime().engine) as session:
        count = fill_weights.rebuild(session.connection())
    click.echo(f"rebuilt the weights of {count} fills from their events")


@ledger_cli.command("audit")
@click.option(
    "--key",
    "vkeys",
    multiple=True,
    help="Checkpoint verifier key (default: this instance's key and its retired ones in "
    "keys/retired/); repeat it for the old and new keys of a rotation.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=None,
    help="Worker processes (default: all cores).",
)
@click.option(
    "--witness",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="File of signed checkpoints kept outside the database (e.g. keys/last-checkpoint): "
    "the log must contain each one.",
)
def ledger_audit(vkeys: tuple[str, ...], workers: int | None, witness: Path | None) -> None:
    """Recompute every chain, signature, the tree and every checkpoint; exit 1 on any defect."""
    from app.audit_cli import run_audit

    sys.exit(run_audit(runtime(), list(vkeys), workers, witness))


@ledger_cli.command("partitions")
@click.option(
    "--months-ahead",
    type=click.IntRange(0, 120),
    default=3,
    show_default=True,
    help="Create the monthly partitions of events up to this many months ahead.",
)
def ledger_partitions(months_ahead: int) -> None:
    """Create the missing monthly partitions of events (PostgreSQL), then list them."""
    from sqlalchemy.exc import DBAPIError

    from ledger import partitions

    rt = runtime()
    if rt.engine.dialect.name != "postgresql":
        click.echo("SQLite：events 是单表，不分区 / events is a plain table, not partitioned")
        return
    try:
        with rt.engine.begin() as conn:
            created = partitions.ensure_partitions(conn, rt.now(), months_ahead)
            parts, waiting = partitions.list_partitions(conn), partitions.default_rows(conn)
    except (DBAPIError, partitions.PartitionError) as exc:
        click.echo(f"分区维护失败 / partition maintenance failed: {exc}", err=True)
        sys.exit(1)
    if not parts:
        click.echo("events 尚未分区（请先运行 flask db upgrade）/ not partitioned: run db upgrade")
        sys.exit(1)
    for p in parts:
        span = "DEFAULT" if p.start is None else f"{p.start:%Y-%m-%d} → {p.end:%Y-%m-%d}"
        rows = "?" if p.estimated_rows < 0 else f"≈{p.estimated_rows:,}"
        click.echo(f"{p.name:<20} {span:<26} {rows} rows")
    click.echo(f"新建 / created: {', '.join(created) or '-'}")
    if waiting:
        click.echo(
            f"注意：{waiting} 行在默认分区 / note: {waiting} rows wait in {partitions.DEFAULT}",
            err=True,
        )


@ledger_cli.command("register-event-ids")
def ledger_register_event_ids() -> None:
    """Register the events missing from event_ids (PostgreSQL): after a repair that had the
    registering trigger off, as ``ledger audit`` reports. Exit 1 if some remain out of step."""
    from ledger import event_ids

    rt = runtime()
    if rt.engine.dialect.name != "postgresql":
        click.echo("SQLite：事件编号即 events 的主键，无需登记 / event ids are events' own key")
        return
    with transaction(rt.engine) as session:
        if not event_ids.kept(session):
            raise click.ClickException(
                "没有 event_ids 表，请先运行 flask --app wsgi db upgrade / no event_ids table: "
                "run flask --app wsgi db upgrade first"
            )
        added = event_ids.register_missing(session)
        left = event_ids.drift(session, limit=0).counts  # before the commit: one answer
    click.echo(f"登记 / registered: {added} event id(s)")
    if any(left.values()):
        click.echo(
            f"仍不一致，需人工修复 / still out of step, to repair by hand (docs/deploy.md §2): "
            f"{left['twice']} id(s) stored by two events or more, {left['moved']} "
            f"registered at another recorded_at, {left['unmatched']} registration(s) naming "
            "no event; `ledger audit` lists them",
            err=True,
        )
        sys.exit(1)


def init_app(app: Flask) -> None:
    """Register the command groups."""
    from app.jobs_cli import jobs_cli
    from app.labels_cli import labels_cli

    for group in (db_cli, demo_cli, ledger_cli, jobs_cli, labels_cli):
        app.cli.add_command(group)
