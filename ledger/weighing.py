"""Whether a scale reading can be a cylinder's gross weight, before anything is recorded.

A reading goes on the cylinder's chain for good, so a typing slip (``316`` for ``31.6``,
``61.3`` for ``31.6``) would mark the cylinder overfilled forever. A liquid-full LPG
cylinder holds about 1.25× its rated capacity (propane at ~0.5 kg/L in a water volume of
~2.4 L per rated kg), so a net weight above 1.5× the capacity cannot be real: the station
(its page and its program) refuses it and asks again. A real overfill (a few percent, up to
liquid-full) stays below and is recorded, then flagged by the OVERFILLED warning.
"""

from __future__ import annotations

MAX_NET_PER_CAPACITY = 1.5


def gross_limit(tare_kg: float, capacity_kg: float) -> float:
    """The highest gross reading that can be real for this cylinder."""
    return round(tare_kg + capacity_kg * MAX_NET_PER_CAPACITY, 3)
