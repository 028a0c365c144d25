"""Turn rendered labels back into pixels and decode them with the station's decoder."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import numpy.typing as npt

from scanner.decode import decode_file, decode_image, read_image

DPI = 300


def decode_png(png: bytes) -> list[str]:
    """Every QR text in a PNG, by the station's decoder."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "label.png"
        path.write_bytes(png)
        return decode_file(path).texts


def svg_to_gray(svg: str, dpi: int = DPI) -> npt.NDArray[np.uint8]:
    """An SVG rasterised by librsvg (rsvg-convert) on white, as a grayscale array."""
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "label.svg", Path(tmp) / "label.png"
        src.write_text(svg, encoding="utf-8")
        subprocess.run(
            [
                "rsvg-convert",
                "-d",
                str(dpi),
                "-p",
                str(dpi),
                "-b",
                "white",
                str(src),
                "-o",
                str(out),
            ],
            check=True,
            timeout=60,
        )
        image = read_image(out)
    assert image is not None
    return image


def pdf_pages(pdf: bytes, dpi: int = DPI) -> list[npt.NDArray[np.uint8]]:
    """Every page of a PDF rasterised by poppler (pdftoppm -r 300), grayscale."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "sheet.pdf"
        src.write_bytes(pdf)
        subprocess.run(
            ["pdftoppm", "-r", str(dpi), "-gray", "-png", str(src), str(Path(tmp) / "page")],
            check=True,
            timeout=120,
        )
        pages = []
        for path in sorted(Path(tmp).glob("page-*.png")):
            image = read_image(path)
            assert image is not None
            pages.append(image)
    return pages


def decode_pdf(pdf: bytes) -> list[list[str]]:
    """The QR texts found on each page of a PDF, page by page."""
    return [decode_image(page).texts for page in pdf_pages(pdf)]


def pdf_fonts(pdf: bytes) -> list[dict[str, str]]:
    """pdffonts' table: one dict per font (name, type, emb, sub, uni)."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "sheet.pdf"
        src.write_bytes(pdf)
        out = subprocess.run(
            ["pdffonts", str(src)], check=True, capture_output=True, text=True, timeout=60
        ).stdout
    rows = []
    for line in out.splitlines()[2:]:
        cells = line.split()
        # name, type (may be two words), encoding, emb, sub, uni, object ID (2 cells)
        rows.append({"name": cells[0], "emb": cells[-5], "sub": cells[-4], "uni": cells[-3]})
    return rows
