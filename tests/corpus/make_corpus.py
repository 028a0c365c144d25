"""Regenerate the committed corpus: a sample of scanner.synth.corpus() as JPEG files.

    .venv/bin/python tests/corpus/make_corpus.py

Writes ``*.jpg`` and ``expected.json`` (file name → the texts it holds) beside this
file. The images are synthetic: labels rendered from real §4 URLs (by scanner.synth, and
by the service's own label renderer, labels.png) and "photographed"
(blur, motion, perspective, low contrast, curvature around a 300 mm cylinder, wear,
dirt, glare, low light, noise, print-and-photograph). No photo of a real printed label
is included yet (see scanner/README.md).

Every step is seeded: two runs write the same bytes (with the same OpenCV build; the
app labels also follow labels/png.py). The images committed before 2026-12-03 came
from an earlier version of the degradations and did not match; they were regenerated.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from scanner.synth import Sample, corpus, label_text, photograph  # noqa: E402


def app_labels() -> list[Sample]:
    """Labels as the service prints them (labels.png: QR, code, owner, model in Chinese),
    photographed synthetically."""
    import numpy as np

    from labels.layout import LabelData, layout
    from labels.png import render

    rng = np.random.default_rng(38059)
    key = Ed25519PrivateKey.from_private_bytes(rng.bytes(32))
    shots = [[], ["curvature", "glare"], ["print_scan"], ["motion"], ["low_light"], ["dirt"],
             ["wear", "perspective"], ["low_contrast", "noise"]]  # fmt: skip
    out = []
    for i, kinds in enumerate(shots):
        text, code = label_text(rng, key)
        data = LabelData(code, text, "重庆渝北燃气有限公司", "YSP35.5", 15.0)
        label = np.asarray(render(layout(data, 70.0, 40.0), dpi=150 + 25 * (i % 4)), dtype=np.uint8)
        image = photograph(label, kinds, 0.35, seed=100 + i, curved="curvature" in kinds)
        out.append(Sample(f"app-label-{'_'.join(kinds) or 'clean'}-{i}", image, (text,)))
    return out


def main() -> None:
    """Write the sample: each degradation at two strengths, each combination, sheets, blanks."""
    samples = corpus()
    singles = [s for i, s in enumerate(samples) if "+" not in s.name and i % 4 == 3]
    combos = [s for s in samples if "+" in s.name][:8]  # one of each combination
    sheets = [s for s in samples if s.name.startswith("sheet")][:2]
    blanks = [s for s in samples if s.name.startswith("no-code")][:2]
    keep = [s for s in singles if not s.name.startswith("sheet")]
    keep += combos + sheets + blanks + app_labels()
    keep = list({s.name: s for s in keep}.values())  # a blank may be picked twice
    expected = {}
    for sample in keep:
        name = sample.name.replace("+", "_") + ".jpg"
        cv2.imwrite(str(HERE / name), sample.image, [cv2.IMWRITE_JPEG_QUALITY, 65])
        expected[name] = list(sample.texts)
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n")
    print(f"{len(expected)} images written to {HERE}")


if __name__ == "__main__":
    main()
