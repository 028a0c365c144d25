"""``python -m labels``: issue codes for a CSV batch over the HTTP API, and print the labels.

    python -m labels issue batch.csv --server http://127.0.0.1:5000 --token T --out sheet.pdf
    python -m labels issue b.csv --token T --layout custom:columns=2,rows=5,width_mm=90,height_mm=50

Exit 0 when every row was registered, 1 when some rows were not (they are listed
by line; the rest are registered and on the sheet), 2 on a usage or file error or
when the server refused the token partway (what was registered before is still
reported and printed). Running the same rows again after an earlier run has finished,
from any file or by another admin of the enterprise, registers nothing twice: they are
reprinted, except a cylinder since scrapped or condemned, whose row is an error. Two runs
at the same moment are not covered: two admins sending the same row together can both
miss the lookup and register the serial twice; registration's twin check flags the
later cylinder (blocked from filling) only if the earlier one had committed by then.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import httpx
from rich.console import Console

from labels import console as ui
from labels import sheet_layouts
from labels.client import Fatal, HttpRegistrar
from labels.fonts import FontMissing
from ledger.addresses import server_url
from ledger.errors import LedgerError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m labels", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    issue = sub.add_parser("issue", help="register a CSV batch and write its label sheet")
    issue.add_argument("csv", type=Path)
    issue.add_argument(
        "--server",
        type=server_url,
        default=os.environ.get("LEDGER_SERVER", "http://127.0.0.1:5000"),
    )
    issue.add_argument("--token", default=os.environ.get("LEDGER_TOKEN"), help="enterprise token")
    issue.add_argument("--out", type=Path, help="the PDF sheet (default: CSV name + .pdf)")
    issue.add_argument(
        "--layout", default=sheet_layouts.DEFAULT_LAYOUT, help=sheet_layouts.LAYOUT_OPTION_HELP
    )
    return parser


def main(argv: Sequence[str] | None = None, transport: httpx.BaseTransport | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    console = Console(stderr=True)
    if not args.token:
        console.print("需要企业令牌 / --token (or LEDGER_TOKEN) is required", markup=False)
        return 2
    out = args.out or args.csv.with_suffix(".pdf")
    registrar = HttpRegistrar(args.server, args.token, transport)
    try:  # everything that can be checked is, before the first row is registered
        layout = ui.check_layout(sheet_layouts.parse_layout_option(args.layout))
        ui.check_out(out, args.csv)
        rows, checked = ui.read_file(args.csv, dt.date.today())
        ui.check_sheet(out, args.csv, len(rows), layout)
        report = ui.issue_with_progress(rows, registrar, console)
        return ui.finish(report, checked, out, layout, console, args.csv)
    except (LedgerError, Fatal, FontMissing, OSError) as exc:
        message = f"错误 / error: {getattr(exc, 'detail', exc)}"
        console.print(message, markup=False, highlight=False, soft_wrap=True)
        return 2
    finally:
        registrar.close()


if __name__ == "__main__":
    sys.exit(main())
