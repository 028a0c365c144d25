"""Events per local day, for the regulator's charts.

A Chongqing regulator's "day" runs from midnight to midnight in Beijing time, not UTC: a
fill at 07:30 in the morning is 23:30 UTC the day before. Events are counted per UTC hour
in SQL (the same expression on SQLite and PostgreSQL, a few thousand rows at most) and the
hours are given to the local days in Python, with the zone's own rules (daylight saving
included). Exact for every zone whose offset from UTC is a whole number of hours, as
China's (UTC+8) is; a zone of half-hour offset would see half an hour of events counted on
a neighbouring day.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.sql.expression import ColumnElement
from sqlmodel import Session, col

from ledger.model import Event

_HOUR_FORMAT = "%Y-%m-%d %H"


def window(now: dt.datetime, days: int, zone: str) -> tuple[dt.datetime, list[str]]:
    """The last ``days`` local days up to today: the instant the first began, and their
    dates ("YYYY-MM-DD", oldest first)."""
    tz = ZoneInfo(zone)
    today = now.astimezone(tz).date()
    dates = [today - dt.timedelta(days=days - 1 - i) for i in range(days)]
    start = dt.datetime.combine(dates[0], dt.time(), tzinfo=tz).astimezone(dt.UTC)
    return start, [d.isoformat() for d in dates]


def per_day(
    session: Session, types: tuple[str, ...], since: dt.datetime, zone: str = "UTC"
) -> dict[str, dict[str, int]]:
    """Events of each type per local day of ``zone`` since a time: {type: {"YYYY-MM-DD": n}}."""
    hour = _utc_hour(session)
    query = (
        select(col(Event.type), hour, func.count())
        .where(col(Event.type).in_(types), col(Event.occurred_at) >= since)
        .group_by(col(Event.type), hour)
    )
    tz = ZoneInfo(zone)
    out: dict[str, dict[str, int]] = {t: {} for t in types}
    for kind, when, count in session.execute(query):
        utc = dt.datetime.strptime(when, _HOUR_FORMAT).replace(tzinfo=dt.UTC)
        day = utc.astimezone(tz).date().isoformat()
        out[kind][day] = out[kind].get(day, 0) + int(count)
    return out


def _utc_hour(session: Session) -> ColumnElement[str]:
    """An event's UTC hour as "YYYY-MM-DD HH" (SQLite stores UTC without an offset)."""
    if session.get_bind().dialect.name == "postgresql":
        utc = func.timezone("UTC", col(Event.occurred_at))
        return func.to_char(utc, "YYYY-MM-DD HH24")
    return func.strftime(_HOUR_FORMAT, col(Event.occurred_at))
