"""When a record says it happened (``occurred_at``): checked before it goes on a chain.

A phone or station clock can be wrong (reset to 1970 after a flat battery, a wrong time
zone); the chain is forever, so an impossible time is refused with what to check, never
recorded. Offline records are further bounded by the jurisdiction's window
(``ledger.lifecycle``).
"""

from __future__ import annotations

import datetime as dt

from ledger.errors import Invalid

MAX_CLOCK_SKEW = dt.timedelta(minutes=10)


def claimed(occurred_at: dt.datetime | None, now: dt.datetime, *, offline: bool) -> dt.datetime:
    """The time a record claims (``now`` when it claims none); Invalid when impossible."""
    if offline and occurred_at is None:
        raise Invalid("离线记录须带发生时间 / an offline record carries its own 'occurred_at'")
    occurred_at = occurred_at or now
    if occurred_at.tzinfo is None:
        raise Invalid(
            "发生时间须带时区 / occurred_at needs a UTC offset (e.g. 2026-11-23T06:00:00+08:00)"
        )
    if occurred_at > now + MAX_CLOCK_SKEW:
        raise Invalid(
            "发生时间在未来，请核对设备时钟 / occurred_at is in the future: check the device clock"
        )
    return occurred_at


def not_before_registration(occurred_at: dt.datetime, registered_at: dt.datetime | None) -> None:
    """Nothing happens to a cylinder before it was registered (beyond clock skew)."""
    if registered_at is not None and occurred_at < registered_at - MAX_CLOCK_SKEW:
        raise Invalid(
            f"发生时间早于气瓶登记时间（{registered_at:%Y-%m-%d %H:%M} UTC），请核对设备时钟 / "
            f"occurred_at {occurred_at.isoformat()} is before the cylinder was registered "
            f"({registered_at.isoformat()}): check the device clock"
        )
