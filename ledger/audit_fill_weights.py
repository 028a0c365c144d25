"""The audit's check of ``fill_weights`` against the events (``ledger.fill_weights``).

Derived data, like the state projection: a row that differs from what its ``filled`` event
and the state that event met make of it, a fill with no row, or a row of no fill, is a
finding of the lesser kind (the events, the evidence, are not affected). The regulator's
short-weight list would show that fill wrongly or leave it out until
``flask --app wsgi ledger rebuild-fill-weights`` repairs it.

``ProjectionCheck`` feeds each fill as its fold streams past (``expect``, with the state
before the fill: the tare the fill was judged on) and hands over the cylinders each chunk
completes (``compare``): their stored rows are read with one query per chunk.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Mapping
from typing import Any

from sqlalchemy import exists, select
from sqlmodel import Session, col

from ledger.fill_weights import REPAIR, weight_row
from ledger.model import Event
from ledger.model_rules import FillWeight
from ledger.state import CylinderState

_FIELDS = ("cylinder_id", "station_id", "occurred_at", "net_kg", "capacity_kg")
LISTED = 1000  # findings listed; a table rebuilt wrongly could differ in millions


class FillWeightCheck:
    """The ``fill_weights`` rows the events make, compared with those stored."""

    def __init__(self, session: Session, label: Callable[[str], str]) -> None:
        self.session, self.label = session, label
        self.expected: dict[str, list[dict[str, Any]]] = {}  # cylinder id → its fills' rows
        self.findings: list[str] = []
        self.unlisted = 0

    def expect(
        self,
        before: CylinderState,
        event_id: str,
        station_id: int | None,
        occurred_at: dt.datetime,
        payload: Mapping[str, Any],
    ) -> None:
        """A ``filled`` event met this state: the row it should have."""
        cylinder = before.cylinder_id
        row = weight_row(
            event_id, cylinder, station_id, occurred_at, payload, before.tare_kg, before.capacity_kg
        )
        self.expected.setdefault(cylinder, []).append(row)

    def compare(self, cylinders: Collection[str], skip: Collection[str]) -> None:
        """Compare the rows of these completed cylinders (not of those in ``skip``, whose
        events are the finding) with the stored ones."""
        rows = [r for c in cylinders if c not in skip for r in self.expected.get(c, ())]
        for cylinder in cylinders:
            self.expected.pop(cylinder, None)
        if not rows:
            return
        columns = [col(getattr(FillWeight, f)) for f in ("event_id", *_FIELDS)]
        query = select(*columns).where(col(FillWeight.event_id).in_([r["event_id"] for r in rows]))
        stored = {r[0]: r[1:] for r in self.session.execute(query)}
        for row in rows:
            got = stored.get(row["event_id"])
            where = f"{self.label(row['cylinder_id'])}: fill {row['event_id']}"
            if got is None:
                self._add(
                    f"{where}: 无称重记录 no fill_weights row (derived data; repair: {REPAIR})"
                )
                continue
            differs = [
                f"{name}: stored {value!r}, from the events {row[name]!r}"
                for name, value in zip(_FIELDS, got, strict=True)
                if _normal(value) != _normal(row[name])
            ]
            if differs:
                self._add(
                    f"{where}: 称重记录不符 fill_weights row differs in {'; '.join(differs)} "
                    f"(derived data; repair: {REPAIR})"
                )

    def finish(self) -> list[str]:
        """Rows of no ``filled`` event (added by hand, or their event is gone)."""
        filled = exists().where(
            col(Event.id) == col(FillWeight.event_id), col(Event.type) == "filled"
        )
        query = select(col(FillWeight.event_id), col(FillWeight.cylinder_id)).where(~filled)
        for event_id, cylinder_id in self.session.execute(query):
            self._add(
                f"{self.label(cylinder_id)}: fill_weights row {event_id} 无此充装事件 names no "
                f"filled event (derived data; repair: {REPAIR})"
            )
        if self.unlisted:
            more = self.unlisted
            self.findings.append(f"… 另有 {more} 条未列出 / {more} more not listed")
        return self.findings

    def _add(self, message: str) -> None:
        if len(self.findings) < LISTED:
            self.findings.append(message)
        else:
            self.unlisted += 1


def _normal(value: Any) -> Any:
    """A stored time without its zone (SQLite) is UTC's; numbers compare as floats."""
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value
