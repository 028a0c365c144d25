"""Owners' own webhooks and the deliveries of their notifications to them (migration 0010).

Operational data, not evidence: nothing here is hashed or logged. An enterprise has at
most one webhook (its id is the key); a notification has at most one delivery row, made
by the expiry sweep in the transaction that writes the notification, and only when its
owner has a webhook then: registering one never sends the notifications written before.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from ledger.model import _ts, utcnow

_UNDELIVERED = text("delivered_at IS NULL")


class OwnerWebhook(SQLModel, table=True):
    """Where an enterprise receives its own notifications, and the key it checks them with."""

    __tablename__ = "owner_webhooks"
    # No FKs (as notifications): the tests truncate the ledger tables.
    enterprise_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    url: str = Field(max_length=500)
    # 32 random bytes as 64 hex digits; the HMAC key is these 64 characters. Kept in clear
    # (unlike tokens): the scheduler needs it to sign.
    secret: str = Field(max_length=64)
    # New when the webhook is set where there was none, kept when it is replaced: a delivery
    # row is sent only under the generation it was queued for, so rows a sweep queued for a
    # removed webhook never reach one set again after it (a sweep racing the removal).
    generation: str = Field(max_length=16)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())
    actor_id: int  # who set it last


class OwnerDelivery(SQLModel, table=True):
    """One notification to send to its owner's webhook: at least once, like the global one."""

    __tablename__ = "owner_deliveries"
    __table_args__ = (
        Index(  # the backlog, by owner (the delivery's turns, an owner's counts and
            # removal): as small as the backlog, whatever the table's size
            "ix_owner_deliveries_undelivered", "enterprise_id", "notification_id",
            postgresql_where=_UNDELIVERED, sqlite_where=_UNDELIVERED,
        ),
    )  # fmt: skip
    notification_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    enterprise_id: int
    generation: str = Field(max_length=16)  # the webhook's it was queued for
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())
    delivered_at: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    attempts: int = 0
    last_attempt_at: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    last_error: str | None = Field(default=None, max_length=500)
