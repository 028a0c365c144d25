"""``flask labels``: issue codes for a CSV batch straight into the database, print labels."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import AppGroup
from rich.console import Console
from sqlalchemy.exc import IntegrityError

from app.runtime import runtime
from labels import console as ui
from labels import sheet
from labels.batch import Issued, Register, Row, RowFailed
from labels.fonts import FontMissing
from labels.records import label_data
from ledger import service
from ledger.errors import LedgerError
from ledger.model import Enterprise
from ledger.registry import actor_for_token
from ledger.store import transaction

labels_cli = AppGroup("labels", help="Issue codes for a CSV batch and print their labels.")


def _register(token: str) -> Register:
    rt = runtime()

    def register(row: Row) -> Issued:
        # One transaction per row: a refused row rolls back whole, the others stay.
        try:
            with transaction(rt.engine) as session:
                actor = actor_for_token(session, token)
                if actor is None:
                    raise click.ClickException("未知令牌 / unknown or revoked token")
                cylinder, created = service.register_cylinder(
                    session, rt.authority, actor, row.body, rt.now(), row.key
                )
                owner = session.get(Enterprise, cylinder.owner_id)
                label = label_data(cylinder, owner.name if owner else "", rt.authority)
        except IntegrityError as exc:
            raise RowFailed(f"conflicts with a stored record: {exc.orig}") from exc
        return Issued(row.line, cylinder.serial, label, created)

    return register


@labels_cli.command("issue")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--token", envvar="LEDGER_TOKEN", required=True, help="An enterprise admin's token.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="PDF sheet path.")
@click.option("--layout", default=sheet.DEFAULT_LAYOUT, type=click.Choice(sorted(sheet.LAYOUTS)))
def issue(csv_file: Path, token: str, out: Path | None, layout: str) -> None:
    """Register every good row of CSV_FILE (one transaction each) and write the label sheet."""
    console = Console(stderr=True)
    try:
        rows, checked = ui.read_file(csv_file, runtime().now().date())
        report = ui.issue_with_progress(rows, _register(token), console)
        status = ui.finish(
            report, checked, out or csv_file.with_suffix(".pdf"), sheet.LAYOUTS[layout], console
        )
    except (LedgerError, FontMissing) as exc:
        raise click.ClickException(str(getattr(exc, "detail", exc))) from exc
    sys.exit(status)
