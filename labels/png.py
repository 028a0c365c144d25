"""A label as a PNG raster (Pillow), at a given resolution."""

from __future__ import annotations

import io
from functools import cache

from PIL import Image, ImageDraw, ImageFont

from labels import fonts, qr
from labels.layout import DEFAULT_DPI, MAX_DPI, MIN_DPI, Label
from ledger.errors import Invalid


@cache
def _pil_font(name: str, px: int) -> ImageFont.FreeTypeFont:
    path = fonts.face(name).path
    try:
        return ImageFont.truetype(str(path), px, layout_engine=ImageFont.Layout.BASIC)
    except OSError as exc:  # FreeType cannot open or parse the file
        raise fonts.unreadable(name, path, exc) from exc


def render(label: Label, dpi: int = DEFAULT_DPI) -> Image.Image:
    """The label as a 1-bit-looking grayscale image (white background, black ink)."""
    if not MIN_DPI <= dpi <= MAX_DPI:
        raise Invalid(
            f"dpi 须在 {MIN_DPI} 与 {MAX_DPI} 之间 / dpi must be between {MIN_DPI} and {MAX_DPI}",
            field="dpi",
        )
    scale = dpi / 25.4

    def px(mm: float) -> int:
        return round(mm * scale)

    image = Image.new("L", (px(label.width), px(label.height)), 255)
    draw = ImageDraw.Draw(image)
    m = label.module
    ox = label.qr_x + m * qr.QUIET_MODULES
    oy = label.qr_y + m * qr.QUIET_MODULES
    # Module edges are rounded independently, so adjacent modules always meet exactly.
    for row, col, length in label.symbol.runs():
        x0, x1 = px(ox + col * m), px(ox + (col + length) * m)
        y0, y1 = px(oy + row * m), px(oy + (row + 1) * m)
        draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=0)
    for text in label.texts:
        x = text.x
        for face, part in fonts.runs(text.text, text.primary):
            font = _pil_font(face.name, max(1, px(text.size)))
            draw.text((px(x), px(text.baseline)), part, font=font, fill=0, anchor="ls")
            x += sum(face.advance(c) for c in part) * text.size
    return image


def to_png(label: Label, dpi: int = DEFAULT_DPI) -> bytes:
    """PNG bytes of the label, with its resolution recorded so it prints at true size."""
    buf = io.BytesIO()
    render(label, dpi).save(buf, "PNG", dpi=(dpi, dpi))
    return buf.getvalue()
