"""The operator's side of batch issuing: a progress bar, the report, the label sheet."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from labels import batch
from labels.batch import BatchReport, Register, RowError
from labels.fonts import FontMissing
from labels.layout import LabelData
from labels.layout import layout as layout_label
from labels.sheet_layouts import SheetLayout
from ledger.errors import Invalid


def read_file(path: Path, today: dt.date) -> tuple[list[batch.Row], list[RowError]]:
    """Read and check a CSV file (UTF-8, with or without Excel's BOM)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Invalid(
            f"文件不是 UTF-8 编码（请另存为 UTF-8）/ {path} is not UTF-8 text "
            f"(save the CSV as UTF-8): {exc}"
        ) from exc
    except OSError as exc:
        raise Invalid(f"无法读取 CSV / cannot read {path}: {exc.strerror or exc}") from exc
    return batch.read_csv(text, today)


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
    csv_path: Path,
) -> int:
    """Print the report, write the sheet of the issued labels (also after a stop), in
    several files for a long batch (``sheet_files``).

    Exit status 0 when every row was registered, 1 when some rows were not, 2 when the
    batch stopped early (its reason is the summary's last line) or no sheet was written.
    """
    for line in batch.summary(report, checked):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    if out is not None and report.issued:
        labels = [i.label for i in report.issued]
        if not write_sheet(labels, out, csv_path, layout, console):
            return 2
    if report.stopped is not None:
        return 2
    return 0 if report.ok and not checked else 1


def write_sheet(
    labels: list[LabelData], out: Path, csv_path: Path, layout: SheetLayout, console: Console
) -> bool:
    """Write the sheet file by file (each whole or not at all); False, saying which files
    are missing and how to get them, when one cannot be written."""

    from labels import sheet  # reportlab: loaded by the commands that draw, not at start

    def say(text: str) -> None:
        console.print(text, markup=False, highlight=False, soft_wrap=True)

    parts = sheet_files(out, len(labels), layout)
    for n, (path, part) in enumerate(parts):
        partial = path.with_name(path.name + ".part")
        try:
            check_out(path, csv_path)
            partial.write_bytes(sheet.render_sheet(labels[part.start : part.stop], layout))
            partial.replace(path)
        except (Invalid, OSError, FontMissing) as exc:
            partial.unlink(missing_ok=True)
            reason = exc.detail if isinstance(exc, Invalid) else str(exc)
            say(f"标签页未写出 / no label sheet {path}: {reason}")
            if len(parts) > 1:
                left, names = len(parts) - n, ", ".join(p.name for p, _ in parts[n:])
                say(f"未写出 {left} 个文件 / {left} file(s) not written: {names}")
            say("重新运行本批次即可重印，不会重复登记 / run the batch again to print them: no "
                "cylinder is registered twice")  # fmt: skip
            return False
        say(f"标签页 / label sheet: {path}（{len(part)} 张 / {len(part)} labels）")
    return True


# A batch's sheet goes into PDF files of at most this many pages: ReportLab holds each page's
# drawing until it saves (~0.7 MB a page of 3×8 labels: 100,000 labels would take ~3 GB).
PAGES_PER_FILE = 100


def sheet_files(out: Path, count: int, layout: SheetLayout) -> list[tuple[Path, range]]:
    """Where the sheet of ``count`` labels is written, and which labels each file holds:
    ``out`` itself when they fit in one file, else ``<stem>-001-of-NNN.pdf`` beside it
    (the total in each name: no file of a longer run is taken for a part of this one)."""
    per_file = PAGES_PER_FILE * layout.per_page
    if count <= per_file:
        return [(out, range(count))]
    total = -(-count // per_file)
    digits = max(3, len(str(total)))
    stem = out.stem if out.suffix.lower() == ".pdf" else out.name
    return [
        (
            out.with_name(f"{stem}-{n + 1:0{digits}d}-of-{total:0{digits}d}.pdf"),
            range(n * per_file, min(count, (n + 1) * per_file)),
        )
        for n in range(total)
    ]


def check_sheet(out: Path, csv_path: Path, count: int, layout: SheetLayout) -> None:
    """``check_out`` for every file the sheet of ``count`` labels goes to (every row of the
    file issued): a part that is a folder or the CSV is refused before any registration."""
    for path, _part in sheet_files(out, count, layout):
        check_out(path, csv_path)


def check_out(out: Path, csv_path: Path) -> Path:
    """The sheet's path, or Invalid naming why it cannot be written: checked before any row
    is registered, so a bad --out costs nothing. Writing is tried (the file is left as it
    was), so a read-only disk or folder is caught as well as a missing one."""

    def refuse(zh: str, en: str) -> Invalid:
        return Invalid(f"--out {zh} / --out {out}: {en}", field="out")

    if out.is_dir():
        raise refuse("是文件夹", "is a folder; name the PDF file to write")
    if out.is_symlink() or (out.exists() and not out.is_file()):  # a link, device, pipe
        raise refuse(
            "不是普通文件", "is not a plain file (a link, a device or a pipe): name a new file"
        )
    if not out.parent.is_dir():
        raise refuse("所在文件夹不存在", f"the folder {out.parent} does not exist")
    if out.exists() and csv_path.exists() and out.samefile(csv_path):
        raise refuse("就是 CSV 文件本身", "is the CSV itself; name another file for the sheet")
    existed = out.exists()
    try:
        with out.open("ab"):
            pass
    except OSError as exc:
        raise refuse("无法写入", f"cannot be written: {exc.strerror or exc}") from exc
    if not existed:
        out.unlink(missing_ok=True)
    return out


def check_layout(layout: SheetLayout) -> SheetLayout:
    """The layout, or Invalid when a typical label does not fit it, or FontMissing (checked
    before any row is registered, so a bad --layout or a broken font costs nothing)."""
    from labels import sheet

    sheet.check_fonts()
    sample = LabelData(
        "7G3KQ2M9XW4P",
        "http://127.0.0.1:5000/c/7G3KQ2M9XW4P?s=" + "A" * 86,
        "某某燃气有限公司",
        "YSP35.5",
        14.5,
    )
    try:
        layout_label(sample, layout.width_mm, layout.height_mm)
    except Invalid as exc:
        raise Invalid(f"版面放不下标签 / the layout's labels are too small: {exc.detail}") from exc
    return layout
