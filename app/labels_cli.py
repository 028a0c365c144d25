"""``flask labels``: issue codes for a CSV batch straight into the database, print labels."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.cli_group import CommandGroup
from app.runtime import runtime
from labels import console as ui
from labels import records, sheet_layouts
from labels.batch import Issued, Register, Row, RowFailed, Stop, idempotency_key, no_label_reason
from labels.fonts import FontMissing
from labels.records import label_data
from ledger import permissions, service
from ledger.errors import LedgerError
from ledger.model import Actor, Enterprise
from ledger.registry import actor_for_token
from ledger.store import transaction

labels_cli = CommandGroup("labels", help="Issue codes for a CSV batch and print their labels.")


def _admin(session: Session, token: str) -> Actor:
    """The enterprise administrator of the token (ClickException for anyone else)."""
    actor = actor_for_token(session, token)
    if actor is None:
        raise click.ClickException("未知令牌 / unknown or revoked token")
    if not permissions.can_register(actor):
        raise click.ClickException(
            "只有企业管理员登记气瓶 / only an enterprise administrator registers cylinders"
        )
    return actor


def _register(token: str) -> Register:
    rt = runtime()

    def register(row: Row) -> Issued:
        # One transaction per row: a refused row rolls back whole, the others stay.
        try:
            with transaction(rt.engine) as session:
                try:
                    actor = _admin(session, token)
                except click.ClickException as exc:  # revoked during the batch
                    raise Stop(exc.message) from exc
                assert actor.enterprise_id is not None
                body = row.body
                found = records.registered_cylinder(
                    session, actor.enterprise_id, body["manufacturer"], body["serial"]
                )
                created = False
                if found is not None:
                    cylinder = found.cylinder
                    refusal = no_label_reason(cylinder.code, found.status)
                    if refusal is not None:
                        raise RowFailed(refusal)
                else:
                    key = idempotency_key(actor.enterprise_id, body)
                    cylinder, created = service.register_cylinder(
                        session, rt.authority, actor, body, rt.now(), key, rt.params
                    )
                owner = session.get(Enterprise, cylinder.owner_id)
                label = label_data(cylinder, owner.name if owner else "", rt.authority)
        except IntegrityError as exc:
            raise RowFailed(f"与已存记录冲突 / conflicts with a stored record: {exc.orig}") from exc
        return Issued(row.line, cylinder.serial, label, created)

    return register


class Refused(click.ClickException):
    """Bad input (the file, the layout, --out, the fonts): one line, exit status 2, and
    nothing registered, as ``python -m labels`` does."""

    exit_code = 2


def _layout(ctx: click.Context, param: click.Parameter, value: str) -> sheet_layouts.SheetLayout:
    try:
        return ui.check_layout(sheet_layouts.parse_layout_option(value))
    except LedgerError as exc:
        raise click.BadParameter(exc.detail, ctx, param) from exc
    except FontMissing as exc:
        raise Refused(str(exc)) from exc


@labels_cli.command("issue")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--token", envvar="LEDGER_TOKEN", required=True, help="An enterprise admin's token.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="PDF sheet path.")
@click.option(
    "--layout",
    default=sheet_layouts.DEFAULT_LAYOUT,
    callback=_layout,
    help=sheet_layouts.LAYOUT_OPTION_HELP,
)
def issue(csv_file: Path, token: str, out: Path | None, layout: sheet_layouts.SheetLayout) -> None:
    """Register every good row of CSV_FILE (one transaction each) and write the label sheet.

    A row whose manufacturer and serial the enterprise already registered is not
    registered again: its code is reported and put on the sheet.
    """
    console = Console(stderr=True)
    rt = runtime()
    out = out or csv_file.with_suffix(".pdf")
    try:  # everything that can be checked is, before the first row is registered
        with transaction(rt.engine, write=False) as session:
            _admin(session, token)
        ui.check_out(out, csv_file)
        rows, checked = ui.read_file(csv_file, rt.today())
        ui.check_sheet(out, csv_file, len(rows), layout)
    except (LedgerError, FontMissing) as exc:
        raise Refused(str(getattr(exc, "detail", exc))) from exc
    try:
        report = ui.issue_with_progress(rows, _register(token), console)
        status = ui.finish(report, checked, out, layout, console, csv_file)
    except (LedgerError, FontMissing) as exc:
        raise click.ClickException(str(getattr(exc, "detail", exc))) from exc
    sys.exit(status)
