"""Operational tables of the scheduler: owners' notifications and the jobs' run records.

Operational data, not evidence: nothing here is hashed or logged. Each table's unique key
is what makes its job idempotent: a second scheduler, or a retry after a crash, inserts
nothing the first one already did.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel, col

from ledger.model import Actor, Customer, Event, Vehicle, _ts, utcnow

_UNDELIVERED = text("delivered_at IS NULL")


class Notification(SQLModel, table=True):
    """A message to a cylinder's owner: it went overdue for inspection or reached end of life."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("cylinder_id", "kind", "due_on"),
        Index("ix_notifications_enterprise_id_id", "enterprise_id", "id"),  # an owner's, by id
        Index(  # the webhook's backlog (migration 0008)
            "ix_notifications_undelivered", "id",
            postgresql_where=_UNDELIVERED, sqlite_where=_UNDELIVERED,
        ),
    )  # fmt: skip
    id: int | None = Field(default=None, primary_key=True)
    enterprise_id: int  # no FKs: the tests truncate the ledger tables
    cylinder_id: str = Field(max_length=36)
    code: str = Field(max_length=20)
    kind: str = Field(max_length=16)  # "overdue" | "end_of_life"
    due_on: dt.date  # the date that passed: one notification per cylinder, kind and date
    message: str = Field(sa_column=Column(Text, nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts(index=True))
    # Webhook delivery (optional): at least once, the id is the receiver's idempotency key.
    delivered_at: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=500)


class JobRun(SQLModel, table=True):
    """One run of a periodic job for one period (a day): done once, whoever runs it."""

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job", "period"),)
    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(max_length=32)
    period: str = Field(max_length=32)  # e.g. "2026-11-23" for a nightly job
    started_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())
    finished_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts(index=True))
    ok: bool
    detail: str = Field(sa_column=Column(Text, nullable=False))  # JSON


# The dashboard's refused-fill lists and counts ask for one type of event since a time,
# newest first (ledger/oversight.py): one index serves the filter and the order.
Index(
    "ix_events_type_occurred_at",
    Event.__table__.c.type,  # type: ignore[attr-defined]
    Event.__table__.c.occurred_at,  # type: ignore[attr-defined]
)

# The registry's lists page by id within an enterprise (ledger/registry_paging.py): one
# (enterprise_id, id) index serves the filter, the order and the page's start (migration
# 0009: each replaced the index on enterprise_id alone, its prefix). Stations are few.
Index("ix_actors_enterprise_id_id", col(Actor.enterprise_id), col(Actor.id))
Index("ix_vehicles_enterprise_id_id", col(Vehicle.enterprise_id), col(Vehicle.id))
Index("ix_customers_enterprise_id_id", col(Customer.enterprise_id), col(Customer.id))
