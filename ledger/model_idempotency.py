"""The table of remembered answers to writes sent with an Idempotency-Key (migration 0004).

A row is keyed by (actor, key): two actors never see each other's answers. It holds a
fingerprint of the request, so a key reused for a different request is refused, and the
status, type and body of the first answer, so a retry gets exactly that answer back.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Column, LargeBinary
from sqlmodel import Field, SQLModel

from ledger.model import _ts, utcnow


class IdempotentAnswer(SQLModel, table=True):
    """The first answer to one actor's write under one Idempotency-Key (kept 24 h)."""

    __tablename__ = "idempotency_keys"
    actor_id: int = Field(primary_key=True)  # no foreign key: a purge never waits on actors
    key: str = Field(primary_key=True, max_length=255)
    fingerprint: str = Field(max_length=64)  # SHA-256 of method, path and body
    status: int | None = Field(default=None)  # None while the first request is running
    content_type: str | None = Field(default=None, max_length=100)
    body: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts(index=True))
