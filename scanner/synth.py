"""Synthetic labels and camera degradations, for the test corpus and bench/decode.py.

A label is rendered from the QR matrix with numpy alone (no Pillow), pasted into a
1280×720 frame, and "photographed": blur, motion, perspective, low contrast,
curvature around a 300 mm cylinder, wear, dirt, glare, low light and sensor noise.
Every degradation (scanner.degrade) is seeded, so a corpus regenerates byte for byte
(with the same OpenCV build).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
import qrcode
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from qrcode.constants import ERROR_CORRECT_M

from scanner.degrade import DEGRADATIONS, Image, as_u8, blur, curvature, noise

FRAME = (720, 1280)


def qr_matrix(text: str, ecc: int = ERROR_CORRECT_M) -> npt.NDArray[np.bool_]:
    """The module matrix of a QR code holding text (True = dark), quiet zone included."""
    qr = qrcode.QRCode(error_correction=ecc, border=4, box_size=1)
    qr.add_data(text)
    qr.make(fit=True)
    return np.array(qr.get_matrix(), dtype=bool)


def render_qr(text: str, module_px: int = 6) -> Image:
    """A clean black-on-white QR image, ``module_px`` pixels per module."""
    matrix = qr_matrix(text)
    img = np.where(matrix, 0, 255).astype(np.uint8)
    return np.kron(img, np.ones((module_px, module_px), dtype=np.uint8))


def render_label(text: str, code: str, module_px: int = 6) -> Image:
    """A label: the QR with a white margin and the code printed under it as a bar of text."""
    qr = render_qr(text, module_px)
    h, w = qr.shape
    label = np.full((h + 60, w + 20), 255, dtype=np.uint8)
    label[10 : 10 + h, 10 : 10 + w] = qr
    cv2.putText(label, code, (14, h + 45), cv2.FONT_HERSHEY_SIMPLEX, 1.0, 0, 2, cv2.LINE_AA)
    return label


def place(label: Image, rng: np.random.Generator, background: int = 150) -> Image:
    """Paste a label into a 1280×720 frame at a random spot on a textured background."""
    frame = np.full(FRAME, background, dtype=np.uint8)
    noise = rng.normal(0, 12, (FRAME[0] // 8 + 1, FRAME[1] // 8 + 1)).astype(np.float32)
    texture = cv2.resize(noise, (FRAME[1], FRAME[0]), interpolation=cv2.INTER_LINEAR)
    frame = as_u8(frame + texture)
    h, w = label.shape
    if h > FRAME[0] - 20 or w > FRAME[1] - 20:
        scale = min((FRAME[0] - 20) / h, (FRAME[1] - 20) / w)
        label = as_u8(cv2.resize(label, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))
        h, w = label.shape
    y = int(rng.integers(10, FRAME[0] - h - 9))
    x = int(rng.integers(10, FRAME[1] - w - 9))
    frame[y : y + h, x : x + w] = label
    return frame


def sheet(texts: Sequence[str], module_px: int = 3, columns: int = 4) -> Image:
    """A label sheet: several QR codes in a grid on one 1280×720 frame."""
    frame = np.full(FRAME, 255, dtype=np.uint8)
    cell_w, rows = FRAME[1] // columns, -(-len(texts) // columns)
    cell_h = FRAME[0] // max(rows, 1)
    for i, text in enumerate(texts):
        qr = render_qr(text, module_px)
        scale = min((cell_w - 16) / qr.shape[1], (cell_h - 16) / qr.shape[0], 1.0)
        if scale < 1.0:
            qr = as_u8(cv2.resize(qr, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST))
        r, c = divmod(i, columns)
        y, x = r * cell_h + 8, c * cell_w + 8
        frame[y : y + qr.shape[0], x : x + qr.shape[1]] = qr
    return frame


# --- degradations: (frame, rng, strength 0..1) -> frame -------------------------------


def photograph(
    label: Image, kinds: Sequence[str], strength: float, seed: int, curved: bool = False
) -> Image:
    """A label placed in a 1280×720 frame and degraded by each of ``kinds`` in turn."""
    rng = np.random.default_rng(seed)
    if curved:
        label = curvature(label, rng, strength)
    frame = place(label, rng)
    for kind in kinds:
        if kind != "curvature":
            frame = DEGRADATIONS[kind](frame, rng, strength)
    return frame


@dataclass(frozen=True)
class Sample:
    """One corpus image and the texts it holds (empty for a frame without a code)."""

    name: str
    image: Image
    texts: tuple[str, ...]


def label_text(rng: np.random.Generator, key: Ed25519PrivateKey) -> tuple[str, str]:
    """A realistic QR payload (DESIGN §4 URL with a real signature) and its code."""
    from ledger.codes import CONTEXT, check_char

    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    body = "".join(alphabet[int(i)] for i in rng.integers(0, 32, 11))
    code = body + check_char(body)
    sig = base64.urlsafe_b64encode(key.sign(CONTEXT + code.encode())).rstrip(b"=").decode()
    return f"https://yipingyima.example.cn/c/{code}?s={sig}", code


_COMBOS = (
    ("curvature", "glare"),
    ("motion", "low_light"),
    ("perspective", "dirt", "noise"),
    ("curvature", "wear", "low_contrast"),
    ("blur", "glare"),
    ("print_scan", "perspective"),
    ("curvature", "motion"),
    ("low_light", "noise", "blur"),
)


def corpus(seed: int = 2026, per_kind: int = 8, combos: int = 48, sheets: int = 6) -> list[Sample]:
    """The synthetic corpus: each degradation at rising strength, combinations, sheets, blanks."""
    rng = np.random.default_rng(seed)
    key = Ed25519PrivateKey.from_private_bytes(rng.bytes(32))
    out: list[Sample] = []

    def _one(name: str, kinds: Sequence[str], strength: float) -> None:
        text, code = label_text(rng, key)
        module_px = int(rng.integers(3, 9))
        img = photograph(
            render_label(text, code, module_px), kinds, strength,
            seed=int(rng.integers(1 << 31)), curved="curvature" in kinds,
        )  # fmt: skip
        out.append(Sample(name, img, (text,)))

    for kind in DEGRADATIONS:
        for i in range(per_kind):
            strength = (i + 1) / per_kind
            _one(f"{kind}-{strength:.2f}-{i}", [kind], strength)
    for i in range(combos):
        kinds = _COMBOS[i % len(_COMBOS)]
        strength = float(rng.uniform(0.2, 0.8))
        _one(f"{'+'.join(kinds)}-{strength:.2f}-{i}", kinds, strength)
    for i in range(sheets):
        texts = [label_text(rng, key)[0] for _ in range(8 + 2 * (i % 3))]
        img = sheet(texts, module_px=2 + i % 2, columns=4 + i % 3 // 2)
        if i % 2:
            img = noise(blur(img, rng, 0.1), rng, 0.3)  # a phone photo of a flat sheet
        out.append(Sample(f"sheet-{len(texts)}-{i}", img, tuple(texts)))
    for i in range(6):
        blank = place(np.full((200, 200), 255, dtype=np.uint8), rng)
        out.append(Sample(f"no-code-{i}", noise(blank, rng, 0.5), ()))
    return out
