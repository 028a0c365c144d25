"""The audit's reading of event rows: a stored time that does not parse is its event's problem.

SQLite keeps a timestamp as text, so an edited row can hold anything; read through the
column's type it would stop the whole audit with a traceback. The audit reads those two
columns as text on SQLite and parses them itself: a value that is not a time stays as it is
stored, and ``unreadable`` names it (PostgreSQL's timestamptz holds only times).
``time_column`` does the same for the other times the audit reads (revocations, the
projection's dates).
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
_KIND_NAMES = {bytes: "binary", int: "a number", str: "text", dt.datetime: "a timestamp"}


def _kinds() -> tuple[tuple[int, str, type, bool], ...]:
    """(index, name, Python type, nullable) of each event column but the times: SQLite
    stores any value in any column, so an edited row can hold text where bytes belong."""
    out = []
    for index, name in enumerate(FIELDS):
        column = Event.__table__.c[name]  # type: ignore[attr-defined]
        if (index, name) not in TIMES:
            kind = column.type.python_type
            kind = str if kind is object else kind  # SQLModel's AutoString
            out.append((index, name, kind, bool(column.nullable)))
    return tuple(out)


KINDS = _kinds()
_BLANK: dict[type, Any] = {bytes: b"", int: -1, str: ""}  # compare as wrong, never crash
# Put in place of an unreadable time for the checks that compare times (revocations, the
# projection's fold): the event is already reported, and its cylinder left out of the fold.
UNREADABLE = dt.datetime.min.replace(tzinfo=dt.UTC)
Parsers = list[tuple[int, Callable[[Any], Any]]]  # (column index, how to read its value)


def time_column(session: Session, column: Any) -> tuple[Any, Callable[[Any], Any]]:
    """A date or time column to select, and how to read the value it gives.

    On SQLite the column is selected as text and parsed here: a value that does not parse
    is kept as stored, for the caller to name. Elsewhere both are as they are.
    """
    dialect = session.get_bind().dialect
    if dialect.name != "sqlite":
        return column, as_is
    process = column.type.dialect_impl(dialect).result_processor(dialect, None)

    def parse(value: Any) -> Any:
        try:
            return process(value) if process is not None else value
        except (ValueError, TypeError, OverflowError):
            return value  # kept as stored: the caller names it

    return type_coerce(column, String).label(column.key), parse


def as_is(value: Any) -> Any:
    """A value read as it is (``time_column``'s reader where the database keeps types)."""
    return value


def chunks(session: Session, size: int) -> Iterator[list[tuple[Any, ...]]]:
    """Every event row ordered by cylinder and seq, ``size`` rows at a time."""
    columns = [getattr(Event, c) for c in FIELDS]
    parsers: Parsers = []
    for index, name in TIMES:
        columns[index], parse = time_column(session, getattr(Event, name))
        parsers.append((index, parse))
    query = select(*columns).order_by(Event.cylinder_id, Event.seq)  # type: ignore[arg-type]
    result = session.execute(query.execution_options(yield_per=size))
    sqlite = session.get_bind().dialect.name == "sqlite"
    for part in result.partitions(size):
        rows = [tuple(r) for r in part]
        yield [_parsed(row, parsers) for row in rows] if sqlite else rows


def _parsed(row: tuple[Any, ...], parsers: Parsers) -> tuple[Any, ...]:
    values = list(row)
    for index, parse in parsers:
        values[index] = parse(values[index])
    return tuple(values)


def unreadable(row: tuple[Any, ...]) -> str | None:
    """What is wrong with the kinds of the row's stored values, or None when all are right."""
    for index, name in TIMES:
        if not isinstance(row[index], dt.datetime):
            return wrong_kind(name, row[index], dt.datetime)
    for index, name, kind, nullable in KINDS:
        value = row[index]
        if not isinstance(value, kind) and not (value is None and nullable):
            return wrong_kind(name, value, kind)
    return None


def wrong_kind(name: str, value: Any, kind: type) -> str:
    """The audit's words for a stored value that is not of its column's kind."""
    text = repr(value) if len(repr(value)) <= 40 else f"{repr(value)[:39]}…"
    what = _KIND_NAMES.get(kind, kind.__name__)
    return f"字段无法读取 {name} {text} is not {what} (a stored field was changed)"


def readable(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """The row with each value of the wrong kind replaced by a blank of the right one
    (``UNREADABLE`` for a time): the event is already reported."""
    values = list(row)
    for index, _name in TIMES:
        if not isinstance(values[index], dt.datetime):
            values[index] = UNREADABLE
    for index, _name, kind, nullable in KINDS:
        value = values[index]
        if not isinstance(value, kind) and not (value is None and nullable):
            values[index] = _BLANK.get(kind)
    return tuple(values)
