"""Decoder benchmark: decode rate and median/p95 ms per 1280×720 image (figures printed).

Runs on the synthetic corpus (``scanner.synth.corpus``: every degradation at rising
strength, combinations, label sheets, frames without a code) and on the committed
images under ``tests/corpus/``, comparing in the same process on the same images:

- ``zxing-cpp``: zxing-cpp alone (QR only, its default try-harder settings);
- ``pipeline (file)``: ``scanner.decode.decode_image``, every stage until one reads
  (and the later ones too on a label sheet);
- ``pipeline w/o zxing``: the same without the zxing-cpp stages (what zxing-cpp adds);
- ``camera, 1 frame``: ``FrameDecoder`` on one frame (the 33 ms budget);
- ``camera, ≤ N frames``: the same frame shown up to N times, as a held-still cylinder
  is, timed per frame (every frame, not per image).

The camera rows use one long-lived ``FrameDecoder``, as a station does, so it has
learnt this machine's stage costs.

A sample counts as decoded when every text it holds was found (a whole sheet for a
sheet), and for a frame without a code when nothing was found. ``rate`` and ``decoded``
are of the images with codes; ``blank`` counts the frames without a code that gave
nothing (any other is a false read).

    .venv/bin/python bench/decode.py            # full corpus
    .venv/bin/python bench/decode.py --quick    # a smaller corpus
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from importlib.metadata import version
from pathlib import Path

import numpy as np
import zxingcpp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scanner.decode import ALL_STAGES, decode_image, read_image, to_gray
from scanner.frames import FrameDecoder
from scanner.synth import Sample, corpus

CORPUS_DIR = Path(__file__).resolve().parents[1] / "tests" / "corpus"
Decoder = Callable[[np.ndarray], list[str]]  # type: ignore[type-arg]


def zxing_only(image: np.ndarray) -> list[str]:  # type: ignore[type-arg]
    """zxing-cpp alone, QR codes only."""
    found = zxingcpp.read_barcodes(
        to_gray(image), formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
    )
    return [r.text for r in found if r.valid]


def pipeline(image: np.ndarray) -> list[str]:  # type: ignore[type-arg]
    """The full file-mode pipeline."""
    return decode_image(image).texts


_NO_ZXING = [s for s in ALL_STAGES if not s.name.startswith("zxing")]


def pipeline_without_zxing(image: np.ndarray) -> list[str]:  # type: ignore[type-arg]
    """The pipeline without its zxing-cpp stages (pyzbar and OpenCV alone)."""
    return decode_image(image, stages=_NO_ZXING).texts


def camera(frames: int) -> Decoder:
    """One long-lived FrameDecoder (as at a station) shown each image up to ``frames`` times."""
    decoder = FrameDecoder()

    def run(image: np.ndarray) -> list[str]:  # type: ignore[type-arg]
        for _ in range(frames):
            texts = decoder.decode(image).texts
            if texts:
                return texts
        return []

    return run


def committed_samples() -> list[Sample]:
    """The images under tests/corpus/ with their expected texts (expected.json)."""
    manifest = CORPUS_DIR / "expected.json"
    if not manifest.exists():
        return []
    out = []
    for name, texts in json.loads(manifest.read_text()).items():
        image = read_image(CORPUS_DIR / name)
        if image is not None:
            out.append(Sample(f"corpus/{name}", image, tuple(texts)))
    return out


def measure(
    name: str, decoder: Decoder, samples: Sequence[Sample], per_frame: int = 1
) -> dict[str, float | str]:
    """Decode rate and timing of one decoder over the samples; how many frames without a
    code correctly gave nothing (a text found there is a false read)."""
    times, good, coded, good_coded = [], 0, 0, 0
    for sample in samples:
        start = time.perf_counter()
        texts = decoder(sample.image)
        times.append((time.perf_counter() - start) * 1000 / per_frame)
        ok = set(sample.texts) <= set(texts) and (bool(sample.texts) or not texts)
        good += ok
        if sample.texts:
            coded += 1
            good_coded += ok
    times.sort()
    return {
        "decoder": name,
        "rate": good_coded / max(coded, 1),
        "decoded": f"{good_coded}/{coded}",
        "blank": f"{good - good_coded}/{len(samples) - coded}",
        "median_ms": statistics.median(times),
        "p95_ms": times[min(len(times) - 1, int(0.95 * len(times)))],
        "max_ms": times[-1],
    }


def camera_per_frame(samples: Sequence[Sample], frames: int) -> dict[str, float | str]:
    """FrameDecoder's time of every frame (not per sample), over ``frames`` frames each."""
    times, good, coded, blank_ok = [], 0, 0, 0
    decoder = FrameDecoder()  # one for the whole run, as at a station
    for sample in samples:
        found, read = False, False
        for _ in range(frames):
            result = decoder.decode(sample.image)
            times.append(result.ms)
            if result.texts:
                found, read = set(sample.texts) <= set(result.texts), True
                break
        if sample.texts:
            coded += 1
            good += found
        else:
            blank_ok += not read
    times.sort()
    return {
        "decoder": f"camera, ≤{frames} frames (per frame)",
        "rate": good / max(coded, 1),
        "decoded": f"{good}/{coded}",
        "blank": f"{blank_ok}/{len(samples) - coded}",
        "median_ms": statistics.median(times),
        "p95_ms": times[min(len(times) - 1, int(0.95 * len(times)))],
        "max_ms": times[-1],
    }


def stage_costs(samples: Sequence[Sample]) -> None:
    """Median cost and reads of each stage alone (for ordering the pipeline)."""
    print("\nstage alone: median ms / decoded")
    for stage in ALL_STAGES:
        times, good = [], 0
        for sample in samples:
            gray = to_gray(sample.image)
            start = time.perf_counter()
            texts = stage.run(gray)
            times.append((time.perf_counter() - start) * 1000)
            good += bool(sample.texts) and set(sample.texts) <= set(texts)
        print(f"  {stage.name:16} {statistics.median(times):7.2f} ms  {good}")


def stage_wins(samples: Sequence[Sample]) -> None:
    """Which stage of the file pipeline read each decoded image (a+b: a sheet read by
    several stages together)."""
    wins: dict[str, int] = {}
    for sample in samples:
        result = decode_image(sample.image)
        if sample.texts and set(sample.texts) <= set(result.texts):
            wins[str(result.decoder)] = wins.get(str(result.decoder), 0) + 1
    print("\nfile pipeline, images read by each stage:")
    for name, count in sorted(wins.items(), key=lambda kv: -kv[1]):
        print(f"  {name:32} {count}")


def environment() -> str:
    """Where the figures come from: machine, load average, commit (and uncommitted files)."""
    root = Path(__file__).resolve().parents[1]
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    parts = [
        f"python {platform.python_version()}", f"{os.cpu_count()} cpus {platform.machine()}",
        f"zxing-cpp {version('zxing-cpp')}", f"load avg {load}",
    ]  # fmt: skip
    try:
        git = ["git", "-C", str(root)]
        head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run([*git, "status", "--porcelain", "--", "scanner", "bench"],
                               capture_output=True, text=True, check=True).stdout  # fmt: skip
        changed = [line[3:] for line in dirty.splitlines()]
        parts.append(f"commit {head}" + (f" + uncommitted {', '.join(changed)}" if changed else ""))
    except (OSError, subprocess.CalledProcessError):
        parts.append("commit unknown")
    return "; ".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="about a quarter of the synthetic images (2 per degradation instead of 8, "
        "fewer combinations and sheets); the committed images under tests/corpus/ are "
        "always all included, so e.g. 85 of 191 images in all",
    )
    parser.add_argument("--frames", type=int, default=5, help="camera frames per sample")
    parser.add_argument("--stages", action="store_true", help="also time each stage alone")
    args = parser.parse_args(argv)
    samples = corpus(per_kind=2, combos=12, sheets=2) if args.quick else corpus()
    samples += committed_samples()
    coded = sum(1 for s in samples if s.texts)
    print(environment())
    print(f"{len(samples)} images of 1280×720 ({coded} with codes, {len(samples) - coded} without)")
    for image in (s.image for s in samples[:3]):  # warm up (lazy detectors, caches)
        pipeline(image)
        camera(1)(image)
    rows = [
        measure("zxing-cpp", zxing_only, samples),
        measure("pipeline (file)", pipeline, samples),
        measure("pipeline w/o zxing", pipeline_without_zxing, samples),
        measure("camera, 1 frame", camera(1), samples),
        camera_per_frame(samples, args.frames),
    ]
    # blank: frames without a code that gave nothing (the rest are false reads)
    print(
        f"\n{'decoder':34} {'rate':>7} {'decoded':>9} {'blank':>7} "
        f"{'median':>8} {'p95':>8} {'max':>8}"
    )
    for r in rows:
        print(
            f"{r['decoder']:34} {r['rate']:7.1%} {r['decoded']:>9} {r['blank']:>7} "
            f"{r['median_ms']:6.2f}ms {r['p95_ms']:6.2f}ms {r['max_ms']:6.1f}ms"
        )
    if args.stages:
        stage_costs(samples)
        stage_wins(samples)
    print(f"load avg at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
