"""Batch issuing: a CSV of cylinders → registrations → codes, bad rows reported by line.

Each row is checked here first (the ledger's own validation, no server needed),
then registered on its own (one transaction or one HTTP request per row), so a
bad row is reported and skipped and never leaves half a registration, while the
good rows are kept. Running a batch again after the earlier run has finished never
registers a cylinder twice (two runs at the same moment can: docs/labels.md §2):
before registering a row, the registrar looks up the enterprise's cylinder with
that manufacturer and serial and, when there is one, puts its code on the sheet
("already registered as CODE") instead, or reports the row when that cylinder was
scrapped or condemned. Every row also carries an idempotency key
made of the enterprise, the manufacturer, the serial and a digest of the row's
cells (not the file name, not the line, not the user), so a retried request is
answered with its first registration, while a row fixed after a refusal is a new
request with a new key.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from labels.layout import LabelData
from ledger.cylinders import parse_cylinder_spec
from ledger.errors import Invalid, LedgerError
from ledger.state import TERMINAL

REQUIRED = (
    "serial",
    "manufacturer",
    "manufactured_on",
    "model",
    "capacity_kg",
    "tare_kg",
    "dual_phase",
    "last_inspected_on",
)
OPTIONAL = ("service_life_years", "code")
_TRUE = {"true", "1", "yes", "y", "是", "t"}
_FALSE = {"false", "0", "no", "n", "否", "f"}
MAX_ROWS = 100_000


@dataclass(frozen=True)
class Row:
    """One CSV data row: its line number in the file and the registration body."""

    line: int
    body: dict[str, Any]


@dataclass(frozen=True)
class RowError:
    """A row that was not registered, and why."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"第 {self.line} 行 / line {self.line}: {self.reason}"


@dataclass(frozen=True)
class Issued:
    """A registered cylinder: its line, code and what its label shows; ``created`` is
    False when an earlier run (or another admin) had already registered it."""

    line: int
    serial: str
    label: LabelData
    created: bool = True


@dataclass
class BatchReport:
    """What a batch did: the issued codes and the rows refused, both by line."""

    issued: list[Issued] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    stopped: str | None = None  # why the batch stopped before its last row
    not_tried: int = 0  # rows left when it stopped

    @property
    def ok(self) -> bool:
        """True when every row was registered."""
        return not self.errors and self.stopped is None


def idempotency_key(enterprise_id: int, body: dict[str, Any]) -> str:
    """The Idempotency-Key of a row: who the cylinder is (enterprise, manufacturer, serial)
    and a digest of everything the row says, so the same row gets the same key from any
    file, line or admin of the enterprise, and a row fixed after a refusal gets a new one."""
    ident = "\x1f".join(
        (str(enterprise_id), str(body["manufacturer"]).strip(), str(body["serial"]).strip())
    )
    content = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    who = hashlib.sha256(ident.encode()).hexdigest()[:32]
    what = hashlib.sha256(content.encode()).hexdigest()[:32]
    return f"labels-v2-{who}-{what}"


def no_label_reason(code: str, status: str | None) -> str | None:
    """Why a registered cylinder with the row's serial gets no label: it was scrapped or
    condemned (a rerun must not put a retired cylinder back in circulation); None if live."""
    if status not in TERMINAL:
        return None
    zh, en = ("检验判废", "condemned") if status == "condemned" else ("已报废", "scrapped")
    return (
        f"该钢印号的气瓶{zh}（{code}），不再制签 / "
        f"the cylinder with this serial was {en} ({code}): no label"
    )


def _cell(raw: dict[str, str | None], name: str) -> str:
    return (raw.get(name) or "").strip()


def _number(raw: dict[str, str | None], name: str, integral: bool = False) -> Any:
    text = _cell(raw, name)
    try:
        return int(text) if integral else float(text)
    except ValueError:
        zh, kind = ("整数", "a whole number") if integral else ("数字", "a number")
        raise Invalid(
            f"'{name}' 须为{zh} / '{name}' must be {kind}, not {text!r}", field=name
        ) from None


def _bool(raw: dict[str, str | None], name: str) -> bool:
    text = _cell(raw, name).lower()
    if text in _TRUE:
        return True
    if text in _FALSE or text == "":
        return False
    raise Invalid(
        f"'{name}' 须为 是/否 / '{name}' must be true/false (是/否), not {text!r}", field=name
    )


def row_body(raw: dict[str, str | None]) -> dict[str, Any]:
    """A CSV row's cells as a registration body (the JSON the API takes)."""
    body: dict[str, Any] = {k: _cell(raw, k) for k in ("serial", "manufacturer", "model")}
    body["manufactured_on"] = _cell(raw, "manufactured_on")
    body["capacity_kg"] = _number(raw, "capacity_kg")
    body["tare_kg"] = _number(raw, "tare_kg")
    body["dual_phase"] = _bool(raw, "dual_phase")
    body["last_inspected_on"] = _cell(raw, "last_inspected_on") or None
    if _cell(raw, "service_life_years"):
        body["service_life_years"] = _number(raw, "service_life_years", integral=True)
    if code := _cell(raw, "code"):
        # Only ASCII is folded: "ſ".upper() is "S", and a code is A–Z and 0–9 as typed.
        body["code"] = code.upper() if code.isascii() else code
    return body


def _shown(names: list[str]) -> str:
    """Column names for a message, any control characters escaped."""
    return ", ".join(n if n.isprintable() else repr(n) for n in names)


def read_csv(text: str, today: dt.date) -> tuple[list[Row], list[RowError]]:
    """Parse and check every row; Invalid when the file as a whole is unusable (a NUL byte,
    a line the csv module refuses, a wrong header, no data rows)."""
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise Invalid(
            f"文件含 NUL 字节（第 {line} 行），不是 UTF-8 文本 CSV / the file has a NUL byte "
            f"(line {line}): it is not a UTF-8 text CSV (UTF-16 or a spreadsheet file?); "
            "save it as CSV UTF-8"
        )
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))  # Excel writes a BOM
    try:
        rows, errors = _read_rows(reader, today)
    except csv.Error as exc:
        line = reader.line_num + 1  # the line being read when the parser gave up
        raise Invalid(f"CSV 格式错误（第 {line} 行）/ malformed CSV, line {line}: {exc}") from None
    if not rows and not errors:
        raise Invalid("CSV 没有数据行 / the CSV has no rows: only a header, or blank lines")
    return rows, errors


def _read_rows(reader: csv.DictReader[str], today: dt.date) -> tuple[list[Row], list[RowError]]:
    header = [h.strip() for h in reader.fieldnames or []]
    reader.fieldnames = header
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
    if missing or unknown:
        parts = [f"缺少列 missing column(s): {', '.join(missing)}"] if missing else []
        parts += [f"未知列 unknown column(s): {_shown(unknown)}"] if unknown else []
        raise Invalid(f"CSV 表头错误 / bad CSV header (line 1): {'; '.join(parts)}")
    rows: list[Row] = []
    errors: list[RowError] = []
    seen: dict[tuple[str, str], int] = {}
    for raw in reader:
        line = reader.line_num
        if len(rows) + len(errors) >= MAX_ROWS:
            raise Invalid(f"每个文件最多 {MAX_ROWS} 行 / at most {MAX_ROWS} rows per file")
        if None in raw:
            cells = len(header) + len(raw[None])  # DictReader puts extra cells under None
            errors.append(
                RowError(
                    line,
                    f"本行 {cells} 格，表头 {len(header)} 列 / "
                    f"{cells} cells, the header has {len(header)}",
                )
            )
            continue
        if not any((v or "").strip() for v in raw.values()):
            continue  # a blank line
        try:
            body = row_body(raw)
            parse_cylinder_spec(body, today)
        except Invalid as exc:
            errors.append(RowError(line, exc.detail))
            continue
        ident = (body["manufacturer"], body["serial"])
        if ident in seen:
            errors.append(
                RowError(
                    line,
                    f"钢印号与第 {seen[ident]} 行重复 / serial {body['serial']} of "
                    f"{body['manufacturer']} is already on line {seen[ident]}",
                )
            )
            continue
        seen[ident] = line
        rows.append(Row(line, body))
    return rows, errors


class RowFailed(Exception):
    """A row the server refused or could not take (raised by a register callable)."""


class Stop(Exception):
    """A failure no later row can get past (a refused or revoked token): the batch stops,
    and what was registered before it is still reported and printed."""


Register = Callable[[Row], Issued]


def issue(
    rows: Iterable[Row], register: Register, advance: Callable[[], None] = lambda: None
) -> BatchReport:
    """Register each row on its own; refusals are collected by line, the rest kept."""
    report = BatchReport()
    pending = list(rows)
    for done, row in enumerate(pending):
        try:
            report.issued.append(register(row))
        except (LedgerError, RowFailed) as exc:
            reason = exc.detail if isinstance(exc, LedgerError) else str(exc)
            report.errors.append(RowError(row.line, reason))
        except Stop as exc:
            report.stopped = f"第 {row.line} 行 / line {row.line}: {exc}"
            report.not_tried = len(pending) - done
            break
        advance()
    report.errors.sort(key=lambda e: e.line)
    return report


def summary(report: BatchReport, checked_errors: list[RowError]) -> list[str]:
    """Lines for the operator: how many were issued, then each refused row by line."""
    errors = sorted([*checked_errors, *report.errors], key=lambda e: e.line)
    again = [i for i in report.issued if not i.created]
    zh, en = f"已赋码 {len(report.issued)} 只", f"issued {len(report.issued)} codes"
    if again:
        zh += f"（其中 {len(again)} 只此前已登记）"
        en += f" ({len(again)} already registered by an earlier run)"
    out = [f"{zh} / {en}"]
    out += [
        f"  第 {i.line} 行：已登记为 {i.label.code} / line {i.line}: already registered as "
        f"{i.label.code}"
        for i in again
    ]
    if errors:
        out.append(f"未登记 {len(errors)} 行 / {len(errors)} rows not registered:")
        out += [f"  {e}" for e in errors]
    if report.stopped is not None:
        out.append(
            f"已中止，{report.not_tried} 行未处理 / stopped, {report.not_tried} rows not tried: "
            f"{report.stopped}"
        )
    return out
