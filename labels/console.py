"""The operator's side of batch issuing: a progress bar, the report, the label sheet."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from labels import batch, sheet
from labels.batch import BatchReport, Register, RowError
from labels.sheet import SheetLayout
from ledger.errors import Invalid


def read_file(path: Path, today: dt.date) -> tuple[list[batch.Row], list[RowError]]:
    """Read and check a CSV file (UTF-8, with or without Excel's BOM)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Invalid(f"{path} is not UTF-8 text (save the CSV as UTF-8): {exc}") from exc
    return batch.read_csv(text, path.name, today)


def issue_with_progress(rows: list[batch.Row], register: Register, console: Console) -> BatchReport:
    """Register the rows one by one behind a progress bar."""
    columns = (
        TextColumn("赋码 / issuing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("issue", total=len(rows))
        return batch.issue(rows, register, lambda: progress.advance(task))


def finish(
    report: BatchReport,
    checked: list[RowError],
    out: Path | None,
    layout: SheetLayout,
    console: Console,
) -> int:
    """Print the report, write the sheet of the issued labels; exit status 0, or 1 on bad rows."""
    for line in batch.summary(report, checked):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    if out is not None and report.issued:
        pdf = sheet.render_sheet([i.label for i in report.issued], layout)
        out.write_bytes(pdf)
        console.print(f"标签页 / label sheet: {out}", markup=False, highlight=False)
    return 0 if report.ok and not checked else 1
