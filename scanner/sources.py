"""Where scans and weights come from: a camera, a watched directory, and stdin.

Each source runs in its own thread and puts ``Input`` items on one queue that the
station loop reads, so a slow camera never delays a keyboard-wedge scan.

- ``stdin``: keyboard-wedge USB scanners (the usual hardware at a nozzle) type the QR
  text and Enter; the operator types a scale reading the same way (``31.6`` or
  ``31.6kg``: up to three digits, optional decimals);
- ``camera:N`` (or ``camera:FILE`` for a recorded video): OpenCV ``VideoCapture``,
  frames decoded by ``FrameDecoder`` within the 33 ms budget; one code held in front of
  the camera is reported once until it leaves the picture for ``repeat_after`` seconds;
- ``dir:PATH``: image files dropped into a folder (a phone or camera upload folder),
  each decoded once, in name order; a file without a code is reported as unreadable.
- ``serial:PORT[:BAUD]`` (scale only): a filling scale that sends one line with the gross
  weight at the end of each fill (e.g. ``ST,GS,+0031.60kg``).
"""

from __future__ import annotations

import queue
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO

from scanner.decode import decode_file
from scanner.frames import FrameDecoder

WEIGHT_RE = re.compile(r"^\s*(\d{1,3}(?:\.\d{1,3})?)\s*(?:kg|KG|Kg|公斤)?\s*$")
SCALE_RE = re.compile(r"([+-]?\d{1,4}(?:\.\d{1,3})?)\s*(?:kg|KG)?")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm"}


@dataclass(frozen=True)
class Input:
    """One thing for the station loop: a scan, a weight, an unreadable input, or the end."""

    kind: str  # "scan" | "weight" | "unreadable" | "error" | "end"
    source: str
    text: str = ""
    kg: float | None = None
    decoder: str | None = None


Feed = Callable[[Input], None]


def parse_weight(line: str) -> float | None:
    """A typed scale reading in kg, or None when the line is not one."""
    match = WEIGHT_RE.match(line)
    return float(match.group(1)) if match else None


def parse_scale_line(line: str) -> float | None:
    """The gross weight in a scale's output line; unstable (``US``) readings are ignored."""
    if line.strip().upper().startswith("US"):
        return None
    match = SCALE_RE.search(line)
    if not match:
        return None
    value = float(match.group(1))
    return value if 0 <= value < 1000 else None


def read_lines(stream: TextIO, feed: Feed, name: str = "stdin") -> None:
    """Keyboard wedge and typed weights: one line is one scan or one weight."""
    for raw in stream:
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        kg = parse_weight(line)
        if kg is not None:
            feed(Input("weight", name, line, kg=kg))
        else:
            feed(Input("scan", name, line))
    feed(Input("end", name))


class Capture(Protocol):
    """What the camera source needs of ``cv2.VideoCapture`` (a fake in tests)."""

    def read(self) -> tuple[bool, Any]:
        """The next frame."""

    def release(self) -> None:
        """Close the device."""


def open_camera(spec: str) -> Capture:
    """``cv2.VideoCapture`` for a device index or a video file."""
    import cv2

    capture = cv2.VideoCapture(int(spec) if spec.isdigit() else spec)
    if not capture.isOpened():
        raise OSError(f"cannot open camera {spec!r}")
    capture.set(cv2.CAP_PROP_FRAME_WIDTH, 1280)
    capture.set(cv2.CAP_PROP_FRAME_HEIGHT, 720)
    return capture


def read_camera(
    open_capture: Callable[[], Capture],
    feed: Feed,
    stop: threading.Event,
    name: str = "camera",
    repeat_after: float = 3.0,
    once: bool = False,
) -> None:
    """Decode frames until stopped; a camera that fails is reopened every 2 s."""
    decoder = FrameDecoder()
    last_seen: dict[str, float] = {}
    while not stop.is_set():
        try:
            capture = open_capture()
        except (OSError, ValueError) as exc:
            feed(Input("error", name, f"摄像头无法打开 camera unavailable: {exc}"))
            if once:
                break
            stop.wait(2.0)
            continue
        try:
            while not stop.is_set():
                ok, frame = capture.read()
                if not ok or frame is None:
                    break
                result = decoder.decode(frame)
                now = time.monotonic()
                for text in result.texts:
                    if now - last_seen.get(text, -1e9) > repeat_after:
                        feed(Input("scan", name, text, decoder=result.decoder))
                    last_seen[text] = now
        finally:
            capture.release()
        if once:
            break
        feed(Input("error", name, "摄像头断开，正在重连 camera lost, reconnecting"))
        stop.wait(2.0)
    feed(Input("end", name))


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def watch_dir(
    folder: Path, feed: Feed, stop: threading.Event, poll: float = 0.5, once: bool = False
) -> None:
    """Decode each image file once as it appears in the folder (settled for one poll)."""
    done: set[Path] = set()
    sizes: dict[Path, int] = {}
    name = f"dir:{folder}"
    while not stop.is_set():
        try:
            files = _images(folder)
        except OSError as exc:
            feed(Input("error", name, f"目录无法读取 folder unreadable: {exc}"))
            files = []
        for path in files:
            if path in done:
                continue
            try:
                size = path.stat().st_size
            except OSError:
                continue
            if not once and sizes.get(path) != size:  # still being written: wait a poll
                sizes[path] = size
                continue
            done.add(path)
            result = decode_file(path)
            if not result.texts:
                feed(Input("unreadable", name, path.name))
            for text in result.texts:
                feed(Input("scan", name, text, decoder=result.decoder))
        if once:
            break
        stop.wait(poll)
    feed(Input("end", name))


def read_scale(port: str, baud: int, feed: Feed, stop: threading.Event) -> None:
    """A serial filling scale: one line with the gross weight per finished fill."""
    import serial  # type: ignore[import-untyped]

    name = f"scale:{port}"
    while not stop.is_set():
        try:
            with serial.serial_for_url(port, baud, timeout=0.5) as device:
                while not stop.is_set():
                    line = device.readline().decode("ascii", "replace")
                    kg = parse_scale_line(line) if line.strip() else None
                    if kg is not None:
                        feed(Input("weight", name, line.strip(), kg=kg))
        except (OSError, ValueError, serial.SerialException) as exc:
            feed(Input("error", name, f"电子秤无法读取 scale unavailable: {exc}"))
            stop.wait(2.0)


def start(targets: Iterable[Callable[[], None]]) -> list[threading.Thread]:
    """Run each source in a daemon thread."""
    threads = [threading.Thread(target=t, daemon=True) for t in targets]
    for t in threads:
        t.start()
    return threads


def stdin_source(feed: Feed) -> Callable[[], None]:
    """The stdin reader as a thread target."""
    return lambda: read_lines(sys.stdin, feed)


def queue_feed(q: queue.Queue[Input]) -> Feed:
    """A feed that puts inputs on a queue."""
    return q.put
