"""Jurisdiction parameters with their sources; issue-by-issue more join them here."""

from __future__ import annotations

import datetime as dt

# TSG 23-2021 Annex / GB/T 34525: LPG steel cylinders are inspected every 4 years.
INSPECTION_INTERVAL_YEARS = 4


def add_years(day: dt.date, years: int) -> dt.date:
    """The same calendar day ``years`` later (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def next_inspection_due(manufactured_on: dt.date, last_inspected_on: dt.date | None) -> dt.date:
    """Next periodic inspection: interval after the last one, or after manufacture."""
    return add_years(last_inspected_on or manufactured_on, INSPECTION_INTERVAL_YEARS)
