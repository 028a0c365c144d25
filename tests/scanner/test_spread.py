"""Camera mode spreads every stage over frames; a label sheet loses no code; zbar never
reads a colour frame's blue channel alone."""

from __future__ import annotations

import math

import cv2
import numpy as np

from scanner.decode import CHEAP_STAGES, EXPENSIVE_STAGES, NamedStage, decode_image, zbar_stage
from scanner.degrade import low_light
from scanner.frames import FrameDecoder
from scanner.synth import photograph, render_label, sheet

URL = "https://ledger.test/c/7KQ2MX9D4RTZ?s=" + "Ab-_" * 21 + "Ab"
SHEET = [f"https://ledger.test/c/SHEET{i:02d}CODE?s=" + f"sig{i}" * 20 for i in range(8)]
HARD = np.full((720, 1280), 128, dtype=np.uint8)  # nothing to read: every stage is wanted


def test_every_expensive_stage_runs_over_successive_hard_frames() -> None:
    decoder = FrameDecoder(patience=5)
    frames = decoder.patience + len(EXPENSIVE_STAGES) + 1
    for _ in range(frames):
        assert decoder.decode(HARD).texts == []
    assert {s.name for s in EXPENSIVE_STAGES} <= set(decoder.runs)


def test_a_stage_that_never_fits_the_budget_still_gets_its_turns() -> None:
    # No budget at all (a PC far too slow): nothing ever fits, yet no stage starves.
    decoder = FrameDecoder(budget_ms=0.0, patience=3)
    for _ in range(3 * (decoder.patience + len(EXPENSIVE_STAGES))):
        decoder.decode(HARD)
    runs = [decoder.runs[s.name] for s in EXPENSIVE_STAGES]
    assert min(runs) >= 2  # each ran, and ran again: its cost is measured afresh
    assert max(runs) - min(runs) <= 1  # in turns, one starved stage per frame


def test_a_starting_estimate_that_was_too_high_comes_down_once_measured() -> None:
    decoder = FrameDecoder(patience=1, costs=dict.fromkeys(_all_keys(), 1e6))
    for _ in range(2 * len(EXPENSIVE_STAGES) + 2):
        decoder.decode(HARD)
    assert all(decoder.costs[s.name] < 1e6 for s in EXPENSIVE_STAGES)


def test_a_hard_code_found_only_by_a_late_stage_is_read_within_a_few_frames() -> None:
    found_by_last = NamedStage("last", lambda gray: [URL])
    nothing = [NamedStage(f"miss{i}", lambda gray: []) for i in range(5)]
    stages = [*nothing, found_by_last]
    decoder = FrameDecoder(cheap=(), expensive=stages, patience=2,
                           costs=dict.fromkeys([s.name for s in stages], 1e6))  # fmt: skip
    results = [decoder.decode(HARD) for _ in range(2 + len(stages) + 1)]
    assert [URL] in [r.texts for r in results]


def _all_keys() -> list[str]:
    return [s.name + suffix for s in EXPENSIVE_STAGES for suffix in ("", "@half")]


def test_codes_found_by_later_stages_are_merged_on_a_multi_code_image() -> None:
    first = NamedStage("first", lambda gray: SHEET[:7])
    second = NamedStage("second", lambda gray: [])
    third = NamedStage("third", lambda gray: SHEET[6:])
    result = decode_image(HARD, stages=[first, second, third], merge_budget_ms=math.inf)
    assert result.texts == SHEET
    assert result.decoder == "first+third"
    one = NamedStage("one", lambda gray: [URL])
    never = NamedStage("never", lambda gray: [SHEET[0]])
    assert decode_image(HARD, stages=[one, never]).texts == [URL]  # one label: stop at once


def test_a_sheet_with_one_worn_cell_returns_all_eight_codes() -> None:
    image = sheet(SHEET, module_px=3)
    rng = np.random.default_rng(5)
    strength = 0.5 + 0.5 * rng.random()
    image[0:360, 0:320] = low_light(image[0:360, 0:320].copy(), rng, strength)
    first_alone = decode_image(image, stages=CHEAP_STAGES)
    assert len(first_alone.texts) == 7  # the worn cell defeats the first stage
    result = decode_image(image, merge_budget_ms=math.inf)
    assert sorted(result.texts) == sorted(SHEET)
    assert result.decoder is not None and "+" in result.decoder
    assert sorted(result.to_dict("s.png")) == ["decoder", "ms", "path", "text", "texts"]


def test_zbar_given_a_bgr_frame_on_its_own_reads_it_through_grayscale() -> None:
    gray = photograph(render_label(URL, "7KQ2MX9D4RTZ"), [], 0.0, seed=4)
    bgr = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    bgr[:, :, 0] = 255  # a saturated blue channel: zbar on the raw bytes sees no code
    assert zbar_stage(bgr) == [URL]  # type: ignore[arg-type]


def test_a_frame_with_room_for_everything_runs_each_stage_once() -> None:
    decoder = FrameDecoder(budget_ms=1e9)
    decoder.decode(HARD)
    assert [decoder.runs[s.name] for s in EXPENSIVE_STAGES] == [1] * len(EXPENSIVE_STAGES)
