"""The decoder pipeline: every QR code in an image, cheapest decoder first.

Stages (their order and costs are measured by ``bench/decode.py --stages``):

1. ``zxing`` — zxing-cpp on the grayscale image: its local binariser finds several
   codes and tolerates blur and perspective, in a few ms per 1280×720 frame;
2. ``zxing-rescale`` — the same on a half-size copy (a double-size one for small
   images): noise averages out and blur shrinks below a module;
3. ``zxing-sharpen`` — on an unsharp-masked copy (mild blur and motion);
4. ``zbar-threshold`` — pyzbar on an adaptive-threshold binarisation (low contrast,
   uneven light, glare);
5. ``zbar`` — pyzbar on the grayscale image (always grayscale: on a BGR array zbar
   silently reads only the first byte of each pixel, the blue channel);
6. ``zxing-threshold`` — zxing-cpp on the binarisation (dirt and noise);
7. ``opencv`` — OpenCV's ``QRCodeDetectorAruco``, multi-code;
8. ``wechat`` — OpenCV contrib's WeChat detector (no model files: its classic
   detector path), at most 960 px wide (its cost grows to seconds on noisy frames).

``decode_image`` (files, one-off images) runs stages until one finds a code, and on
through the later stages, merging their codes, when one finds several (a label sheet).
``scanner.frames.FrameDecoder`` (camera) runs the cheap stages on every frame and
spreads the expensive ones over successive frames, keeping a frame within its budget.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import zxingcpp
from pyzbar import pyzbar  # type: ignore[import-untyped]

Image = npt.NDArray[np.uint8]
Stage = Callable[[Image], list[str]]
FRAME_BUDGET_MS = 33.0
# A file in which a stage found several codes (a label sheet) goes on through the later
# stages, merging what they add, until this much time has gone.
MERGE_BUDGET_MS = 300.0
_QR_ONLY = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)


@dataclass(frozen=True)
class DecodeResult:
    """Every code text found in one image, the stage that found them, and the time taken."""

    texts: list[str]
    decoder: str | None
    ms: float

    @property
    def text(self) -> str | None:
        """The first code found, or None."""
        return self.texts[0] if self.texts else None

    def to_dict(self, path: str | None = None) -> dict[str, Any]:
        """The JSON line of ``python -m scanner decode --json`` (DESIGN §8)."""
        return {
            "path": path,
            "text": self.text,
            "texts": list(self.texts),
            "decoder": self.decoder,
            "ms": round(self.ms, 3),
        }


def to_gray(image: npt.NDArray[Any]) -> Image:
    """A contiguous 8-bit grayscale copy of a BGR, BGRA or gray image."""
    if image.dtype != np.uint8:
        scaled = image.astype(np.float64)
        span = float(scaled.max() - scaled.min()) or 1.0
        image = ((scaled - scaled.min()) * (255.0 / span)).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    elif image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    elif image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim != 2:
        raise ValueError(f"not an image: shape {image.shape}")
    return np.ascontiguousarray(image)


def _unique(texts: Sequence[str]) -> list[str]:
    seen: dict[str, None] = {}
    for text in texts:
        if text and text not in seen:
            seen[text] = None
    return list(seen)


def _bytes_text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


# --- stages ------------------------------------------------------------------------


def zxing_stage(gray: Image) -> list[str]:
    """zxing-cpp, QR codes only, every code in the image."""
    found = zxingcpp.read_barcodes(gray, formats=_QR_ONLY)
    return _unique([r.text for r in found if r.valid])


def zbar_stage(gray: Image) -> list[str]:
    """pyzbar on the grayscale image, QR codes only (a colour frame is made gray first)."""
    gray = gray if gray.ndim == 2 else to_gray(gray)  # never zbar's blue channel alone
    found = pyzbar.decode(gray, symbols=[pyzbar.ZBarSymbol.QRCODE])
    return _unique([_bytes_text(s.data) for s in found])


def _binarise(gray: Image) -> Image:
    block = max(15, (min(gray.shape) // 24) | 1)
    binary = cv2.adaptiveThreshold(
        gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, block, 5
    )
    return np.asarray(binary, dtype=np.uint8)


def _rescaled(gray: Image) -> Image:
    # Large frames are halved (averaging away noise, shrinking blur to below a module);
    # small crops are doubled (modules of 1–2 pixels).
    factor = 0.5 if max(gray.shape) > 900 else 2.0
    method = cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC
    return np.asarray(cv2.resize(gray, None, fx=factor, fy=factor, interpolation=method))


def _sharpened(gray: Image) -> Image:
    soft = cv2.GaussianBlur(gray, (0, 0), 2.0)
    return np.asarray(cv2.addWeighted(gray, 1.8, soft, -0.8, 0), dtype=np.uint8)


def threshold_stage(gray: Image) -> list[str]:
    """pyzbar on an adaptive-threshold binarisation (uneven light, low contrast, glare)."""
    return zbar_stage(_binarise(gray))


def zxing_threshold_stage(gray: Image) -> list[str]:
    """zxing-cpp on the adaptive-threshold binarisation (dirt and noise)."""
    return zxing_stage(_binarise(gray))


def rescale_stage(gray: Image) -> list[str]:
    """zxing-cpp on a half-size copy of a large frame, or a double-size copy of a small one."""
    return zxing_stage(_rescaled(gray))


def sharpen_stage(gray: Image) -> list[str]:
    """zxing-cpp on an unsharp-masked copy (mild blur and motion)."""
    return zxing_stage(_sharpened(gray))


_wechat: Any = None
_aruco: Any = None


def wechat_stage(gray: Image) -> list[str]:
    """OpenCV contrib's WeChat detector (no model files: its classic detector), at ≤ 960 px."""
    global _wechat
    if _wechat is None:
        _wechat = cv2.wechat_qrcode_WeChatQRCode()  # type: ignore[attr-defined]
    if max(gray.shape) > 960:  # its cost grows fast with size, to seconds on a noisy 720p
        gray = _rescaled(gray)
    texts, _points = _wechat.detectAndDecode(gray)
    return _unique([str(t) for t in texts])


def opencv_stage(gray: Image) -> list[str]:
    """OpenCV's QRCodeDetectorAruco, several codes per image."""
    global _aruco
    if _aruco is None:
        _aruco = cv2.QRCodeDetectorAruco()
    ok, texts, _points, _straight = _aruco.detectAndDecodeMulti(gray)
    return _unique([str(t) for t in texts]) if ok else []


@dataclass(frozen=True)
class NamedStage:
    """A decoder stage and the name reported in ``DecodeResult.decoder``."""

    name: str
    run: Stage


CHEAP_STAGES: tuple[NamedStage, ...] = (NamedStage("zxing", zxing_stage),)
# Ordered by what each adds per millisecond on the corpus (bench/decode.py --stages).
EXPENSIVE_STAGES: tuple[NamedStage, ...] = (
    NamedStage("zxing-rescale", rescale_stage),
    NamedStage("zxing-sharpen", sharpen_stage),
    NamedStage("zbar-threshold", threshold_stage),
    NamedStage("zbar", zbar_stage),
    NamedStage("zxing-threshold", zxing_threshold_stage),
    NamedStage("opencv", opencv_stage),
    NamedStage("wechat", wechat_stage),
)
ALL_STAGES = CHEAP_STAGES + EXPENSIVE_STAGES
# Typical cost of each stage on a 1280×720 frame on a busy 2-core PC (bench/decode.py
# --stages), so a fresh FrameDecoder never starts a stage that cannot fit; each
# decoder then follows its own machine's costs.
PRIOR_COSTS_MS: dict[str, float] = {
    "zxing": 3.0, "zxing-rescale": 1.5, "zxing-sharpen": 5.0, "zbar-threshold": 25.0,
    "zbar": 30.0, "zxing-threshold": 4.0, "opencv": 60.0, "wechat": 60.0,
}  # fmt: skip


def run_stage(stage: NamedStage, gray: Image) -> list[str]:
    """One stage's codes; a frame it cannot handle (an OpenCV error) gives none."""
    try:
        return stage.run(gray)
    except cv2.error:
        return []  # a degenerate frame: the next stage or the next frame may read it


def decode_image(
    image: npt.NDArray[Any],
    stages: Sequence[NamedStage] = ALL_STAGES,
    merge_budget_ms: float = MERGE_BUDGET_MS,
) -> DecodeResult:
    """Every QR code in one image: stages in order until one finds a code; when one finds
    several (a label sheet, where a worn cell may defeat it), the later stages run too,
    within ``merge_budget_ms``, and add the codes it missed (``decoder``: "a+b")."""
    start = time.perf_counter()
    gray = to_gray(image)
    texts: list[str] = []
    names: list[str] = []
    for stage in stages:
        if len(texts) == 1 or (texts and _ms_since(start) >= merge_budget_ms):
            break
        found = [t for t in run_stage(stage, gray) if t not in texts]
        if found:
            texts += found
            names.append(stage.name)
    return DecodeResult(texts, "+".join(names) or None, _ms_since(start))


def _ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def read_image(path: str | Path) -> Image | None:
    """Read an image file as grayscale, or None when it is not a readable image."""
    data = np.fromfile(str(path), dtype=np.uint8)  # works with non-ASCII paths, unlike imread
    if data.size == 0:
        return None
    image = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
    return None if image is None else np.asarray(image, dtype=np.uint8)


def decode_file(path: str | Path) -> DecodeResult:
    """Decode every QR code in an image file (an unreadable file finds nothing)."""
    start = time.perf_counter()
    try:
        image = read_image(path)
    except OSError:
        image = None
    if image is None:
        return DecodeResult([], None, (time.perf_counter() - start) * 1000)
    result = decode_image(image)
    return DecodeResult(result.texts, result.decoder, (time.perf_counter() - start) * 1000)
