"""A4 sheets of labels as PDF (reportlab), with the label fonts subset-embedded.

The layouts (``labels.sheet_layouts``) are named after the common A4 label stocks, or
given in millimetres. A layout that does not fit the page, or labels too small for a
readable QR, is refused with an error that names the dimension at fault.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from functools import cache

from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen import canvas

from labels import fonts, qr
from labels.layout import Label, LabelData, layout
from labels.pdf_fonts import LabelTTFont
from labels.sheet_layouts import PAGE_MM, SheetLayout, check_fits
from ledger.errors import Invalid


@cache
def _pdf_font(name: str) -> str:
    """Register a label face with reportlab (TrueType, subset-embedded) and return its name."""
    pdf_name = f"Label-{name}"
    face = fonts.face(name)
    try:
        pdfmetrics.registerFont(LabelTTFont(pdf_name, face))
    except Exception as exc:  # reportlab's own parser: TTFError, OSError, struct.error…
        raise fonts.unreadable(name, face.path, exc) from exc
    return pdf_name


def check_fonts() -> None:
    """FontMissing unless every label face loads, for layout and for the PDF (checked
    before a batch registers anything, so a broken font costs nothing)."""
    for name in fonts.FACES:
        _pdf_font(name)


def draw_label(pdf: canvas.Canvas, label: Label, x_mm: float, top_mm: float) -> None:
    """Draw one laid-out label with its top-left corner at (x_mm, top_mm) on the page."""
    page_h = PAGE_MM[1]
    m = label.module

    def at(x: float, y: float) -> tuple[float, float]:
        return (x_mm + x) * mm, (page_h - top_mm - y) * mm

    pdf.setFillColorRGB(0, 0, 0)
    ox, oy = label.qr_x + m * qr.QUIET_MODULES, label.qr_y + m * qr.QUIET_MODULES
    path = pdf.beginPath()
    for row, col, length in label.symbol.runs():
        x, y = at(ox + col * m, oy + (row + 1) * m)
        path.rect(x, y, length * m * mm, m * mm)
    pdf.drawPath(path, stroke=0, fill=1)
    for text in label.texts:
        x = text.x
        for face, part in fonts.runs(text.text, text.primary):
            pdf.setFont(_pdf_font(face.name), text.size * mm)
            pdf.drawString(*at(x, text.baseline), part)
            x += sum(face.advance(c) for c in part) * text.size


def render_sheet(items: Sequence[LabelData], sheet: SheetLayout) -> bytes:
    """A PDF of A4 pages holding the labels in order, page after page."""
    if not items:
        raise Invalid("没有要打印的标签 / no labels to print: 'codes' is empty", field="codes")
    check_fits(sheet)
    buf = io.BytesIO()
    pdf = canvas.Canvas(
        buf,
        pagesize=(PAGE_MM[0] * mm, PAGE_MM[1] * mm),
        invariant=True,
        # not Helvetica: every font in the file is embedded (the stub mistypes this argument)
        initialFontName=_pdf_font("sans"),  # type: ignore[arg-type]
    )
    pdf.setTitle("一瓶一码 标签 / cylinder labels")
    pdf.setCreator("cylinder-ledger labels")
    for i, item in enumerate(items):
        if i and i % sheet.per_page == 0:
            pdf.showPage()
        x, y = sheet.origin(i)
        try:
            label = layout(item, sheet.width_mm, sheet.height_mm)
        except Invalid as exc:
            raise Invalid(f"{item.code}: {exc.detail}", **exc.extra) from exc
        draw_label(pdf, label, x, y)
    pdf.showPage()
    pdf.save()
    return buf.getvalue()
