"""The audit's reading of event rows: a stored time that does not parse is its event's problem.

SQLite keeps a timestamp as text, so an edited row can hold anything; read through the
column's type it would stop the whole audit with a traceback. The audit reads those two
columns as text on SQLite and parses them itself: a value that is not a time stays as it is
stored, and ``unreadable`` names it (PostgreSQL's timestamptz holds only times).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import String, select, type_coerce
from sqlmodel import Session

from ledger.model import Event

FIELDS = list(Event.model_fields)
TIMES = tuple((FIELDS.index(c), c) for c in ("occurred_at", "recorded_at"))
# Put in place of an unreadable time for the checks that compare times (revocations, the
# projection's fold): the event is already reported, and its cylinder left out of the fold.
UNREADABLE = dt.datetime.min.replace(tzinfo=dt.UTC)


def _parser(session: Session) -> Callable[[Any], Any] | None:
    dialect = session.get_bind().dialect
    if dialect.name != "sqlite":
        return None
    column = Event.__table__.c.occurred_at  # type: ignore[attr-defined]
    process = column.type.dialect_impl(dialect).result_processor(dialect, None)

    def parse(value: Any) -> Any:
        try:
            return process(value)
        except (ValueError, TypeError, OverflowError):
            return value  # kept as stored: ``unreadable`` names it

    return parse


def chunks(session: Session, size: int) -> Iterator[list[tuple[Any, ...]]]:
    """Every event row ordered by cylinder and seq, ``size`` rows at a time."""
    parse = _parser(session)
    columns = [getattr(Event, c) for c in FIELDS]
    if parse is not None:
        for index, name in TIMES:
            columns[index] = type_coerce(getattr(Event, name), String).label(name)
    query = select(*columns).order_by(Event.cylinder_id, Event.seq)  # type: ignore[arg-type]
    result = session.execute(query.execution_options(yield_per=size))
    for part in result.partitions(size):
        rows = [tuple(r) for r in part]
        if parse is not None:
            rows = [_parsed(row, parse) for row in rows]
        yield rows


def _parsed(row: tuple[Any, ...], parse: Callable[[Any], Any]) -> tuple[Any, ...]:
    values = list(row)
    for index, _name in TIMES:
        values[index] = parse(values[index])
    return tuple(values)


def unreadable(row: tuple[Any, ...]) -> str | None:
    """What is wrong with the row's stored times, or None when both are times."""
    for index, name in TIMES:
        value = row[index]
        if not isinstance(value, dt.datetime):
            return f"时间无法读取 {name} {value!r} is not a timestamp (a stored field was changed)"
    return None


def readable(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """The row with each unreadable time replaced by ``UNREADABLE``."""
    if all(isinstance(row[index], dt.datetime) for index, _name in TIMES):
        return row
    values = list(row)
    for index, _name in TIMES:
        if not isinstance(values[index], dt.datetime):
            values[index] = UNREADABLE
    return tuple(values)
