"""Camera mode: every frame within its 33 ms budget, every stage tried within a second.

``FrameDecoder`` runs the cheap stages on every frame. When they find nothing, the
expensive stages run in rotation over successive frames, each where its measured cost
still fits in the frame's budget: on the full frame, else on a half-size copy (a quarter
of the pixels, about a quarter of the cost). A stage that fits neither way is not
starved: once it has waited ``patience`` frames it runs first on the next frame, on the
half-size copy, even if that frame overruns; so every stage runs, and its cost is
measured again, at least once every ``patience`` frames or so, and a stage whose
starting estimate was too high (another PC, a quieter moment) soon fits again.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from scanner.decode import (
    CHEAP_STAGES,
    EXPENSIVE_STAGES,
    FRAME_BUDGET_MS,
    PRIOR_COSTS_MS,
    DecodeResult,
    Image,
    NamedStage,
    run_stage,
    to_gray,
)

# Stages are planned into 90% of the budget: a stage's cost varies from frame to frame.
PLAN_SHARE = 0.9
HALF = "@half"  # the suffix of a stage run on the half-size copy (its cost and its name)
PIXEL_RATIO = 4.0  # a half-size copy has a quarter of the pixels


def _initial_costs() -> dict[str, float]:
    # Until measured, a half-size run is assumed to cost as much as a full one (WeChat
    # shrinks a large frame itself, and a guess that is too low makes a frame overrun).
    costs = dict(PRIOR_COSTS_MS)
    costs.update({name + HALF: ms for name, ms in PRIOR_COSTS_MS.items()})
    return costs


@dataclass
class FrameDecoder:
    """Cheap stages every frame; expensive ones spread over frames (module docstring)."""

    budget_ms: float = FRAME_BUDGET_MS
    cheap: Sequence[NamedStage] = CHEAP_STAGES
    expensive: Sequence[NamedStage] = EXPENSIVE_STAGES
    costs: dict[str, float] = field(default_factory=_initial_costs)
    patience: int = 30  # frames a stage may wait for its turn (about a second at 30 fps)
    runs: Counter[str] = field(default_factory=Counter)  # how often each stage ran
    _next: int = 0
    _waited: dict[str, int] = field(default_factory=dict)
    _measured: set[str] = field(default_factory=set)

    def decode(self, frame: npt.NDArray[Any]) -> DecodeResult:
        """Decode one camera frame within the budget."""
        start = time.perf_counter()
        gray = to_gray(frame)
        for stage in self.cheap:
            found = self._timed(stage, gray, "")
            if found:
                return DecodeResult(found, stage.name, (time.perf_counter() - start) * 1000)
        half: list[Image] = []  # made once, when a stage first needs it
        ran: set[str] = set()
        for stage, variant in self._plan(start):
            if variant is None:
                continue
            ran.add(stage.name)
            if variant == HALF and not half:
                half.append(_halved(gray))
            found = self._timed(stage, half[0] if variant == HALF else gray, variant)
            if found:
                self._wait(ran)
                name = stage.name + variant
                return DecodeResult(found, name, (time.perf_counter() - start) * 1000)
        self._wait(ran)
        return DecodeResult([], None, (time.perf_counter() - start) * 1000)

    def _plan(self, start: float) -> Any:
        """Yield (stage, variant or None) in this frame's order: a starved stage first,
        then the rotation from where the previous frame stopped, each as it fits."""
        starved = self._starved()
        if starved is not None:
            yield starved, HALF  # its turn, whatever the budget says
        n, first = len(self.expensive), self._next
        for offset in range(n):
            index = (first + offset) % n
            stage = self.expensive[index]
            if stage is starved:
                continue
            variant = self._fitting(stage, (time.perf_counter() - start) * 1000)
            if variant is not None:
                self._next = (index + 1) % n
            yield stage, variant

    def _starved(self) -> NamedStage | None:
        waiting = [s for s in self.expensive if self._waited.get(s.name, 0) >= self.patience]
        return max(waiting, key=lambda s: self._waited.get(s.name, 0), default=None)

    def _fitting(self, stage: NamedStage, elapsed: float) -> str | None:
        room = self.budget_ms * PLAN_SHARE - elapsed
        if self.costs.get(stage.name, 0.0) <= room:
            return ""
        if self.costs.get(stage.name + HALF, 0.0) <= room:
            return HALF
        return None

    def _wait(self, ran: set[str]) -> None:
        for stage in self.expensive:
            waited = self._waited.get(stage.name, 0)
            self._waited[stage.name] = 0 if stage.name in ran else waited + 1

    def _timed(self, stage: NamedStage, gray: Image, variant: str) -> list[str]:
        t0 = time.perf_counter()
        found = run_stage(stage, gray)
        ms = (time.perf_counter() - t0) * 1000
        self.runs[stage.name] += 1
        key = stage.name + variant
        # A starting estimate is a guess, replaced by the first measurement; after that a
        # slowly decaying peak predicts whether a stage fits: it rises at once when the PC
        # gets busy and relaxes over some twenty runs.
        previous = self.costs.get(key) if key in self._measured else None
        self.costs[key] = ms if previous is None else max(ms, 0.9 * previous + 0.1 * ms)
        self._measured.add(key)
        if variant == HALF and stage.name not in self._measured:
            # Not yet run on a full frame: about four times the half-size cost.
            self.costs[stage.name] = PIXEL_RATIO * self.costs[key]
        return found


def _halved(gray: Image) -> Image:
    small = cv2.resize(gray, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(small, dtype=np.uint8)
