"""A4 label stocks: the layouts a sheet of labels may take, checked against the page.

Layouts are named after the common A4 label stocks, or given in millimetres
(``custom_layout``); a layout that does not fit the page is refused with an error that
names the dimension at fault. No drawing library is imported here, so the web app's
schemas and the command lines' option definitions use these without loading reportlab
(``labels.sheet`` draws the PDF; checking a ``--layout`` loads it, to check the fonts).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from ledger.errors import Invalid

PAGE_MM = (210.0, 297.0)  # A4 portrait
MAX_LABELS = 480  # 20 pages of 3×8 in one API request (~5 s); a CSV batch has no limit


@dataclass(frozen=True)
class SheetLayout:
    """A grid of equal labels on A4, all in millimetres from the page's top-left corner."""

    columns: int
    rows: int
    width_mm: float
    height_mm: float
    left_mm: float = 0.0
    top_mm: float = 0.0
    gap_x_mm: float = 0.0
    gap_y_mm: float = 0.0

    @property
    def per_page(self) -> int:
        """Labels per sheet."""
        return self.columns * self.rows

    def origin(self, index: int) -> tuple[float, float]:
        """Top-left corner (mm) of the index-th label on its page, row by row."""
        row, col = divmod(index % self.per_page, self.columns)
        return (
            self.left_mm + col * (self.width_mm + self.gap_x_mm),
            self.top_mm + row * (self.height_mm + self.gap_y_mm),
        )


# Common A4 stocks (Avery/Herma numbering in the comment).
LAYOUTS: dict[str, SheetLayout] = {
    "3x8": SheetLayout(3, 8, 70.0, 37.0, 0.0, 0.5),  # Avery 3474, Herma 4453: 24 per sheet
    "3x7": SheetLayout(3, 7, 70.0, 42.3, 0.0, 0.45),  # Avery 3652: 21 per sheet
    "2x7": SheetLayout(2, 7, 99.1, 38.1, 4.65, 15.15, 2.5, 0.0),  # Avery L7163: 14 per sheet
    "2x4": SheetLayout(2, 4, 99.1, 67.7, 4.65, 13.1, 2.5, 0.0),  # Avery L7165: 8 per sheet
}
DEFAULT_LAYOUT = "3x8"


def check_fits(sheet: SheetLayout) -> SheetLayout:
    """The layout, or Invalid naming what does not fit on an A4 page."""
    if sheet.columns < 1 or sheet.rows < 1:
        raise Invalid(
            "版面至少一行一列 / a layout needs at least one column and one row", field="layout"
        )
    for count, page, what in (
        (sheet.columns, PAGE_MM[0], "columns"),
        (sheet.rows, PAGE_MM[1], "rows"),
    ):
        if count > page:  # more labels than millimetres (and no float overflow below)
            shown = count if count < 10**6 else "millions of"
            raise Invalid(
                f"版面超出 A4 纸 / the layout does not fit the page: {shown} {what} on {page:g} mm",
                field=f"layout.{what}",
            )
    for name in ("width_mm", "height_mm", "left_mm", "top_mm", "gap_x_mm", "gap_y_mm"):
        if not math.isfinite(getattr(sheet, name)):
            raise not_finite(name, getattr(sheet, name))
    for name in ("width_mm", "height_mm"):
        if getattr(sheet, name) <= 0:
            raise Invalid(
                f"layout.{name} 须大于 0 / layout.{name} must be positive", field=f"layout.{name}"
            )
    for name in ("left_mm", "top_mm", "gap_x_mm", "gap_y_mm"):
        if getattr(sheet, name) < 0:
            raise Invalid(
                f"layout.{name} 不能为负 / layout.{name} cannot be negative", field=f"layout.{name}"
            )
    across = sheet.left_mm + sheet.columns * sheet.width_mm + (sheet.columns - 1) * sheet.gap_x_mm
    down = sheet.top_mm + sheet.rows * sheet.height_mm + (sheet.rows - 1) * sheet.gap_y_mm
    for total, page, what, axis in (
        (across, PAGE_MM[0], f"{sheet.columns} columns of {sheet.width_mm:g} mm", "wide"),
        (down, PAGE_MM[1], f"{sheet.rows} rows of {sheet.height_mm:g} mm", "tall"),
    ):
        if total > page + 1e-6:
            raise Invalid(
                f"版面超出 A4 纸 / the layout does not fit the page: {what} with their margin "
                f"and gaps need {total:g} mm, A4 is {page:g} mm {axis}",
                field="layout",
            )
    return sheet


def not_finite(name: str, value: object) -> Invalid:
    """The error for a layout dimension that is NaN, an infinity or too large for a float."""
    shown = "a number too large for a float" if isinstance(value, int) else repr(value)
    return Invalid(
        f"layout.{name} 须为有限的毫米数 / layout.{name} must be a finite number of "
        f"millimetres, not {shown}",
        field=f"layout.{name}",
    )


def custom_layout(spec: Mapping[str, Any]) -> SheetLayout:
    """A layout from a mapping of SheetLayout's fields (mm); Invalid names a bad field."""
    known = {f.name: f for f in fields(SheetLayout)}
    unknown = sorted(set(spec) - set(known))
    if unknown:
        raise Invalid(
            f"未知版面参数 / unknown layout field(s): {', '.join(unknown)}; "
            f"known: {', '.join(known)}",
            field="layout",
        )
    values: dict[str, Any] = {}
    for name in known:
        if name not in spec:
            if name in ("columns", "rows", "width_mm", "height_mm"):
                raise Invalid(
                    f"缺少 layout.{name} / layout.{name} is required", field=f"layout.{name}"
                )
            continue
        value = spec[name]
        integral = name in ("columns", "rows")
        if isinstance(value, bool) or not isinstance(value, int if integral else int | float):
            zh, kind = (
                ("整数", "a whole number") if integral else ("毫米数", "a number of millimetres")
            )
            raise Invalid(
                f"layout.{name} 须为{zh} / layout.{name} must be {kind}", field=f"layout.{name}"
            )
        if integral:
            values[name] = value
            continue
        try:
            values[name] = float(value)  # an int beyond a float's range: OverflowError
        except OverflowError:
            raise not_finite(name, value) from None
        if not math.isfinite(values[name]):
            raise not_finite(name, value)
    return check_fits(SheetLayout(**values))


CUSTOM_PREFIX = "custom:"
LAYOUT_OPTION_HELP = (
    f"a named layout ({', '.join(LAYOUTS)}; default {DEFAULT_LAYOUT}) or a custom grid in "
    "millimetres: custom:columns=3,rows=8,width_mm=70,height_mm=37 with optional "
    "left_mm, top_mm (the page margin to the first label), gap_x_mm, gap_y_mm (between labels)"
)


def parse_layout_option(text: str) -> SheetLayout:
    """A command line's --layout: a named layout, or ``custom:name=value,...`` (mm)."""
    text = text.strip()
    if not text.startswith(CUSTOM_PREFIX):
        return resolve_layout(text)
    spec: dict[str, Any] = {}
    for part in text[len(CUSTOM_PREFIX) :].split(","):
        name, sep, raw = (p.strip() for p in part.partition("="))
        if not sep or not name or not raw:
            raise Invalid(
                f"版面参数格式错误 / bad layout item {part.strip()!r}: write name=value, "
                "e.g. custom:columns=3,rows=8,width_mm=70,height_mm=37",
                field="layout",
            )
        if name in spec:
            raise Invalid(
                f"layout.{name} 重复 / layout.{name} is given twice", field=f"layout.{name}"
            )
        try:
            spec[name] = int(raw) if name in ("columns", "rows") else float(raw)
        except ValueError:
            whole = name in ("columns", "rows")
            zh, kind = (
                ("整数", "a whole number") if whole else ("毫米数", "a number of millimetres")
            )
            raise Invalid(
                f"layout.{name} 须为{zh} / layout.{name} must be {kind}, not {raw!r}",
                field=f"layout.{name}",
            ) from None
    return custom_layout(spec)


def resolve_layout(value: str | Mapping[str, Any] | None) -> SheetLayout:
    """A named layout ("3x8" when None) or a custom one."""
    if value is None:
        return LAYOUTS[DEFAULT_LAYOUT]
    if isinstance(value, str):
        if value not in LAYOUTS:
            raise Invalid(
                f"未知版面 / unknown layout {value!r}; named layouts: {', '.join(LAYOUTS)}, or "
                "custom:columns=…,rows=…,width_mm=…,height_mm=…",
                field="layout",
            )
        return LAYOUTS[value]
    return custom_layout(value)
