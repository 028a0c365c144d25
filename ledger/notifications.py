"""Owners' notifications: read them, and deliver them to an optional webhook (at least once).

The webhook gets one JSON POST per notification; its ``id`` (also in the
``Idempotency-Key`` header) lets the receiver drop a repeat, since a delivery whose answer
was lost is sent again. A failed delivery is retried on the next run, up to MAX_ATTEMPTS.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from ledger.model_ops import Notification

MAX_ATTEMPTS = 10
Post = Callable[[str, dict[str, Any], dict[str, str]], int]  # (url, body, headers) → status


@dataclass(frozen=True)
class Delivery:
    """One delivery run: how many went out, how many failed (kept for a retry)."""

    delivered: int
    failed: int


def document(n: Notification) -> dict[str, Any]:
    """A notification as JSON (the webhook's body and the API's item)."""
    return {
        "id": n.id,
        "enterprise_id": n.enterprise_id,
        "code": n.code,
        "kind": n.kind,
        "due_on": n.due_on.isoformat(),
        "message": n.message,
        "created_at": n.created_at.isoformat(),
    }


def for_enterprise(session: Session, enterprise_id: int, limit: int = 200) -> list[Notification]:
    """An owner's notifications, newest first."""
    query = (
        select(Notification)
        .where(col(Notification.enterprise_id) == enterprise_id)
        .order_by(col(Notification.created_at).desc(), col(Notification.id).desc())
        .limit(limit)
    )
    return list(session.execute(query).scalars())


def deliver(session: Session, url: str, post: Post, now: dt.datetime, batch: int = 100) -> Delivery:
    """POST undelivered notifications to ``url``; each is marked delivered on a 2xx answer."""
    query = (
        select(Notification)
        .where(
            col(Notification.delivered_at).is_(None),
            col(Notification.attempts) < MAX_ATTEMPTS,
        )
        .order_by(col(Notification.id))
        .limit(batch)
    )
    delivered = failed = 0
    for n in session.execute(query).scalars():
        n.attempts += 1
        try:
            status = post(url, document(n), {"Idempotency-Key": f"notification-{n.id}"})
        except Exception as exc:  # network errors of any client: retried on the next run
            n.last_error = f"{type(exc).__name__}: {exc}"[:500]
            failed += 1
            continue
        if 200 <= status < 300:
            n.delivered_at = now
            n.last_error = None
            delivered += 1
        else:
            n.last_error = f"HTTP {status}"
            failed += 1
    session.flush()
    return Delivery(delivered, failed)
