"""Tables of people who log in to the pages, and of the public's reports (migration 0003).

A person is the login of one actor: the pages act as that actor, so every use case and
permission of ``ledger`` applies unchanged. Public reports reference a cylinder by id
without a foreign key (like log leaves), so the ledger's tables can be emptied alone.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from ledger.model import _ts, utcnow


class Person(SQLModel, table=True):
    """A login name and an argon2 password hash for one actor."""

    __tablename__ = "people"
    id: int | None = Field(default=None, primary_key=True)
    login: str = Field(max_length=64, unique=True)
    actor_id: int = Field(foreign_key="actors.id", unique=True)
    password_hash: str = Field(sa_column=Column(Text, nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())
    password_changed_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())


class PublicReport(SQLModel, table=True):
    """A problem reported by the public on a cylinder's page (举报), awaiting review."""

    __tablename__ = "public_reports"
    id: int | None = Field(default=None, primary_key=True)
    form_token: str = Field(max_length=64, unique=True)  # a double submit finds its first row
    code: str = Field(max_length=20, index=True)
    cylinder_id: str | None = Field(default=None, max_length=36)  # null: an unknown code
    kind: str = Field(max_length=24)
    note: str = Field(default="", max_length=500)
    ip_hash: str = Field(max_length=64, index=True)  # salted: the address itself is not kept
    status: str = Field(default="open", max_length=16, index=True)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts(index=True))
    reviewed_at: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    reviewer_id: int | None = Field(default=None, foreign_key="actors.id")
    review_note: str | None = Field(default=None, max_length=500)
