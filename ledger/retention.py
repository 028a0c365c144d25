"""Retention periods: the moment before which a purge may remove what it keeps for a while."""

from __future__ import annotations

import datetime as dt

from ledger.errors import Invalid


def cutoff(now: dt.datetime, keep_days: int) -> dt.datetime:
    """``now`` less ``keep_days`` days; Invalid unless ``keep_days`` is a whole number ≥ 0."""
    if isinstance(keep_days, bool) or not isinstance(keep_days, int) or keep_days < 0:
        raise Invalid(f"保存天数须为非负整数 / keep_days must be a whole number ≥ 0: {keep_days!r}")
    return now - dt.timedelta(days=keep_days)
