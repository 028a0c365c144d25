"""Tables of the rules (issue 3): retired codes, every fill check, the state projection,
each fill's weight on record.

Operational tables beside the ledger: the evidence stays in ``events``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Column, Index, Text, column
from sqlmodel import Field, SQLModel

from ledger.model import _ts


class RetiredCode(SQLModel, table=True):
    """A code retired by relabelling: dead forever, never issued again."""

    __tablename__ = "retired_codes"
    code: str = Field(primary_key=True, max_length=20)
    cylinder_id: str = Field(foreign_key="cylinders.id", index=True)
    retired_at: dt.datetime = Field(sa_column=_ts())


# The partial index's predicate: a check of a code no cylinder carries. ledger.unknown_scans
# repeats it word for word in its filter, so that PostgreSQL sees that the index serves it
# (SQLite's planner prefers ix_fill_checks_cylinder_station; the index costs it a write
# per unknown-code check only).
UNKNOWN_CODE = column("cylinder_id").is_(None)


class FillCheck(SQLModel, table=True):
    """Every fill check's decision (allowing ones too): a `filled` event needs a recent one.

    Operational data, not evidence: a blocked check's evidence is its `fill_blocked` event.
    """

    __tablename__ = "fill_checks"
    __table_args__ = (
        Index("ix_fill_checks_cylinder_station", "cylinder_id", "station_id"),
        Index(
            "ix_fill_checks_unknown_code",
            "checked_at",
            "id",
            sqlite_where=UNKNOWN_CODE,
            postgresql_where=UNKNOWN_CODE,
        ),
    )
    id: str = Field(primary_key=True, max_length=36)  # UUID, from the Idempotency-Key if any
    cylinder_id: str | None = Field(default=None, max_length=36)  # null: unknown code
    station_id: int = Field(foreign_key="stations.id")
    actor_id: int = Field(foreign_key="actors.id")
    code: str = Field(max_length=20)
    allowed: bool
    decision: str = Field(sa_column=Column(Text, nullable=False))  # Decision.to_dict() JSON
    event_id: str | None = Field(default=None, max_length=36)  # the fill_blocked event
    checked_at: dt.datetime = Field(sa_column=_ts(index=True))


class CylinderStateRow(SQLModel, table=True):
    """Projection: each cylinder's folded state, kept in step with every append."""

    __tablename__ = "cylinder_states"
    cylinder_id: str = Field(primary_key=True, foreign_key="cylinders.id", max_length=36)
    owner_id: int = Field(index=True)
    status: str = Field(max_length=16, index=True)
    seq: int
    next_inspection_due: dt.date = Field(index=True)
    end_of_life: dt.date = Field(index=True)
    last_event_at: dt.datetime = Field(sa_column=_ts(index=True))
    state: str = Field(sa_column=Column(Text, nullable=False))  # CylinderState.to_dict() JSON


# The partial index's predicate: a fill below its rated fill (a short fill at any tolerance,
# the tolerance being ≥ 0). A query repeats it word for word (ledger.oversight) so that
# SQLite and PostgreSQL both see that the index serves it.
BELOW_RATED = column("net_kg") < column("capacity_kg")


class FillWeight(SQLModel, table=True):
    """Derived: each ``filled`` event's net weight on record and its cylinder's rated fill
    (``ledger.fill_weights``), written with the event; the short-weight list reads it."""

    __tablename__ = "fill_weights"
    __table_args__ = (
        Index(
            "ix_fill_weights_below_rated",
            "occurred_at",
            "event_id",
            "net_kg",
            "capacity_kg",
            sqlite_where=BELOW_RATED,
            postgresql_where=BELOW_RATED,
        ),
    )
    event_id: str = Field(primary_key=True, max_length=36)
    cylinder_id: str = Field(max_length=36)
    station_id: int | None = Field(default=None)
    occurred_at: dt.datetime = Field(sa_column=_ts())
    net_kg: float  # gross − the registered tare, to the gram (ledger.state.weighed_net)
    capacity_kg: float  # the rated fill, as registered
