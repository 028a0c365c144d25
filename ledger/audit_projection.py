"""The audit's check of derived data: ``cylinder_states`` against the fold of the events.

The projection is a cache for fast reads (a fill check reads one row), not evidence: a row
that differs from the fold of its cylinder's events is a finding of its own kind, repaired
by ``flask --app wsgi ledger rebuild-states``, never a break in the ledger. An edited row
could still mislead a fill check until then, so the audit reports every one.

The fold runs inside the audit's one streaming pass over the events (ordered by cylinder
and seq); the stored rows of the cylinders a chunk completes are read with one query per
chunk, never one per cylinder.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import exists, select
from sqlmodel import Session, col

from ledger import state as fold
from ledger.audit_fill_weights import FillWeightCheck
from ledger.audit_rows import as_is, time_column
from ledger.chain import EventRow
from ledger.model import Event
from ledger.model_rules import CylinderStateRow
from ledger.params import Jurisdiction
from ledger.projection import state_row
from ledger.state import CylinderState, EventView

REPAIR = "flask --app wsgi ledger rebuild-states"
_ID, _CYL, _TYPE, _AT, _ACTOR, _STATION, _SITE, _PAYLOAD = (
    EventRow._fields.index(c)
    for c in (
        "id",
        "cylinder_id",
        "type",
        "occurred_at",
        "actor_id",
        "station_id",
        "site_id",
        "payload",
    )
)
_COLUMNS = ("owner_id", "status", "seq", "next_inspection_due", "end_of_life", "last_event_at")
_STORED = ("cylinder_id", *_COLUMNS, "state")
_DATES = ("next_inspection_due", "end_of_life", "last_event_at")
Label = Callable[[str], str]  # cylinder id → how the report names it


class ProjectionCheck:
    """Fold each cylinder's events as they stream past; compare with its stored row."""

    def __init__(self, session: Session, params: Jurisdiction, label: Label) -> None:
        self.session, self.params, self.label = session, params, label
        self.findings: list[str] = []
        self.cylinder: str | None = None
        self.state: CylinderState | None = None
        self.broken: str | None = None  # why this cylinder's events do not fold
        self.done: dict[str, CylinderState | str] = {}  # folded, awaiting their rows
        self.distrusted: set[str] = set()  # cylinders whose events fail the ledger checks
        self.weights = FillWeightCheck(session, label)  # fill_weights, fed by the same fold
        # Dates and times read so that an edited, unparseable one is a difference, not a crash.
        self.columns = [getattr(CylinderStateRow, c) for c in _STORED]
        self.parsers: dict[int, Callable[[Any], Any]] = {}
        for name in _DATES:
            at = _STORED.index(name)
            self.columns[at], self.parsers[at - 1] = time_column(session, self.columns[at])

    def _read(self, values: Sequence[Any]) -> list[Any]:
        return [self.parsers.get(i, as_is)(v) for i, v in enumerate(values)]

    def distrust(self, cylinder_id: str) -> None:
        """Leave out a cylinder whose events themselves are bad: that is the finding."""
        self.distrusted.add(cylinder_id)

    def feed(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Fold a chunk of event rows; compare every cylinder the chunk completes."""
        for row in rows:
            if row[_CYL] != self.cylinder:
                self._close()
                self.cylinder, self.state, self.broken = row[_CYL], None, None
            if self.broken is None:
                self._apply(row)
        self._compare()

    def finish(self) -> list[str]:
        """Compare the last cylinder, then look for rows of cylinders without events."""
        self._close()
        self._compare()
        has_events = exists().where(col(Event.cylinder_id) == col(CylinderStateRow.cylinder_id))
        orphans = select(col(CylinderStateRow.cylinder_id)).where(~has_events)
        for (cylinder_id,) in self.session.execute(orphans):
            self.findings.append(
                f"{self.label(cylinder_id)}: a projection row but no events (derived data; "
                f"repair: {REPAIR})"
            )
        return self.findings

    def _apply(self, row: tuple[Any, ...]) -> None:
        try:
            view = EventView(
                type=row[_TYPE],
                payload=json.loads(row[_PAYLOAD]),
                occurred_at=row[_AT],
                station_id=row[_STATION],
                site_id=row[_SITE],
                actor_id=row[_ACTOR],
            )
            if self.state is None:
                if view.type != "registered":
                    raise ValueError("the history does not start with a registration")
                self.state = fold.registered(row[_CYL], view.payload, view.occurred_at)
            else:
                if view.type == "filled":  # judged on the state it met, as the append does
                    self.weights.expect(self.state, row[_ID], row[_STATION], row[_AT], view.payload)
                self.state = fold.apply(self.state, view, self.params.fill_tolerance_kg)
        except (ValueError, KeyError, TypeError) as exc:
            self.broken = f"event {row[_ID]} does not fold ({exc})"

    def _close(self) -> None:
        if self.cylinder is not None:
            self.done[self.cylinder] = self.broken or self.state or "no events"
            self.cylinder = None

    def _compare(self) -> None:
        if not self.done:
            return
        broken = {c for c, folded in self.done.items() if isinstance(folded, str)}
        self.weights.compare(list(self.done), broken | self.distrusted)
        query = select(*self.columns).where(col(CylinderStateRow.cylinder_id).in_(list(self.done)))
        stored = {r[0]: self._read(r[1:]) for r in self.session.execute(query)}
        for cylinder_id, folded in self.done.items():
            if cylinder_id in self.distrusted:
                continue
            name = self.label(cylinder_id)
            if isinstance(folded, str):
                self.findings.append(f"{name}: projection not checked: {folded}")
                continue
            row = stored.get(cylinder_id)
            if row is None:
                self.findings.append(
                    f"{name}: no projection row for a cylinder with {folded.seq} events "
                    f"(derived data; repair: {REPAIR})"
                )
                continue
            differs = _differences(row, state_row(folded, self.params))
            if differs:
                self.findings.append(
                    f"{name}: projection row differs from the fold of its {folded.seq} "
                    f"events in {'; '.join(differs)} (derived data; repair: {REPAIR})"
                )
        self.done.clear()


def _differences(row: Sequence[Any], expected: dict[str, Any]) -> list[str]:
    """``field: stored X, folded Y`` for each column (and state key) that differs."""
    out = []
    for name, value in zip(_COLUMNS, row, strict=False):
        want = expected[name]
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        if value != want:
            out.append(f"{name}: stored {value!r}, folded {want!r}")
    stored_state, folded_state = _loads(row[len(_COLUMNS)]), json.loads(expected["state"])
    for key in sorted(set(stored_state) | set(folded_state)):
        if stored_state.get(key) != folded_state.get(key):
            got, want = stored_state.get(key), folded_state.get(key)
            out.append(f"state.{key}: stored {got!r}, folded {want!r}")
    return out


def _loads(text: Any) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, TypeError):  # not JSON, or not even text (SQLite keeps anything)
        return {"(unreadable)": str(text)[:80]}
    return value if isinstance(value, dict) else {"(not an object)": value}
