"""Jurisdiction parameters: every number a rule uses, with its source, overridable.

A city or province sets its own values (``Jurisdiction.from_dict`` of a JSON file or the
``JURISDICTION`` setting); the defaults are the national ones cited beside each field.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ledger.errors import Invalid


def add_years(day: dt.date, years: int) -> dt.date:
    """The same calendar day ``years`` later (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


@dataclass(frozen=True)
class Jurisdiction:
    """The parameters of the rules for one jurisdiction (defaults: national rules)."""

    # TSG 23-2021 Annex / GB/T 34525-2017: LPG steel cylinders are inspected every 4 years.
    inspection_interval_years: int = 4
    # GB 5842-2006 §5 (in force 2007-02-01): design service life 8 years for LPG steel
    # cylinders; GB 5842-2023 has the service life stamped on the cylinder, which the
    # registration carries and which then wins over these defaults.
    service_life_years: int = 8
    service_life_since: dt.date = dt.date(2007, 2, 1)
    # Cylinders made before GB 5842-2006 took effect: 15 years (GB 5842-1996 practice,
    # TSG R0006-2014 scrapping age for welded steel cylinders).
    service_life_years_before: int = 15
    # Warnings that do not block (issue 3): inspection due within 30 days, end of
    # service life within 90 days.
    inspection_warning_days: int = 30
    end_of_life_warning_days: int = 90
    # A `filled` event needs an allowing check of that cylinder at that station this recently.
    fill_check_valid_minutes: int = 10
    # GB 14193.1-2009 filling tolerance: net weight within ±0.5 kg of the rated fill.
    fill_tolerance_kg: float = 0.5
    # A station's offline record (a fill or a blocked check decided without the server) is
    # accepted this many days after it happened, no later (a policy choice, not a standard:
    # a station is expected back online within days; older claims go to the regulator).
    offline_record_max_days: int = 7
    # Clone detection: filled again with no delivery or return in between this soon.
    clone_refill_hours: float = 24.0
    # Clone detection: two scans further apart than a truck can travel (km/h, straight line).
    max_travel_kmh: float = 120.0
    # Reason codes a jurisdiction switches off (e.g. NOT_OWNED where stations may fill
    # cylinders of other enterprises by contract). UNKNOWN_CODE and FORGED_CODE always block.
    disabled_reasons: frozenset[str] = field(default_factory=frozenset)
    # The jurisdiction's clock: a date rule (inspection due, end of life, a licence's or a
    # permit's last day) turns at local midnight, not UTC's (China: 北京时间, UTC+8). The
    # server sets it from LEDGER_TIMEZONE (app.runtime); stations get it with their cache.
    time_zone: str = "Asia/Shanghai"

    def today(self, now: dt.datetime) -> dt.date:
        """The jurisdiction's date at ``now`` (an aware time)."""
        return now.astimezone(ZoneInfo(self.time_zone)).date()

    def service_life_for(self, manufactured_on: dt.date, stamped: int | None) -> int:
        """Design service life in years: the stamped value, else by manufacture date."""
        if stamped:
            return stamped
        if manufactured_on >= self.service_life_since:
            return self.service_life_years
        return self.service_life_years_before

    def end_of_life(self, manufactured_on: dt.date, stamped: int | None) -> dt.date:
        """The first day the cylinder is past its design service life."""
        return add_years(manufactured_on, self.service_life_for(manufactured_on, stamped))

    def next_inspection_due(
        self, manufactured_on: dt.date, last_inspected_on: dt.date | None
    ) -> dt.date:
        """Next periodic inspection: the interval after the last one, or after manufacture."""
        return add_years(last_inspected_on or manufactured_on, self.inspection_interval_years)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (for stations' offline caches)."""
        doc = dataclasses.asdict(self)
        doc["service_life_since"] = self.service_life_since.isoformat()
        doc["disabled_reasons"] = sorted(self.disabled_reasons)
        return doc

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Jurisdiction:
        """Parse overrides; unknown keys and wrong types are refused, naming the key."""
        names = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key not in names:
                raise Invalid(f"unknown jurisdiction parameter {key!r}")
            values[key] = _coerce(key, value, getattr(cls(), key))
        return cls(**values)


# What a number may be: a value past these breaks the date arithmetic (a 100,000-year
# interval), or no real rule would set it; checked when a jurisdiction's file is read.
BOUNDS: dict[str, tuple[float, float]] = {
    "inspection_interval_years": (1, 20),
    "service_life_years": (1, 50),
    "service_life_years_before": (1, 50),
    "inspection_warning_days": (0, 365),
    "end_of_life_warning_days": (0, 3650),
    "fill_check_valid_minutes": (1, 1440),
    "fill_tolerance_kg": (0, 10),
    "offline_record_max_days": (0, 365),
    "clone_refill_hours": (0, 24 * 30),
    "max_travel_kmh": (1, 2000),
}


def _coerce(key: str, value: Any, default: Any) -> Any:
    number = _checked(key, value, default)
    low, high = BOUNDS.get(key, (-math.inf, math.inf))
    if isinstance(number, int | float) and not low <= number <= high:
        raise Invalid(
            f"辖区参数 {key} 须在 {low:g} 到 {high:g} 之间 / jurisdiction parameter {key!r} must "
            f"be from {low:g} to {high:g}: {value!r}"
        )
    return number


def _checked(key: str, value: Any, default: Any) -> Any:
    try:
        if isinstance(default, str):
            ZoneInfo(value)  # a zone the system knows, else refused
            return str(value)
        if isinstance(default, dt.date):
            return dt.date.fromisoformat(value)
        if isinstance(default, frozenset):
            if not isinstance(value, list | tuple | set | frozenset):
                raise TypeError
            return frozenset(str(v) for v in value)
        if isinstance(default, bool) or isinstance(value, bool):
            raise TypeError
        if isinstance(default, int):
            if not isinstance(value, int) or value < 0:
                raise TypeError
            return value
        if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise TypeError
        return float(value)
    except (TypeError, ValueError, ZoneInfoNotFoundError):
        raise Invalid(f"jurisdiction parameter {key!r} has a bad value: {value!r}") from None


DEFAULT = Jurisdiction()
INSPECTION_INTERVAL_YEARS = DEFAULT.inspection_interval_years


def next_inspection_due(manufactured_on: dt.date, last_inspected_on: dt.date | None) -> dt.date:
    """Next periodic inspection under the default parameters."""
    return DEFAULT.next_inspection_due(manufactured_on, last_inspected_on)
