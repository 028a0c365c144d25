"""Owners' notifications: read them, and deliver them to an optional webhook (at least once).

The webhook gets one JSON POST per notification; its ``id`` (also in the
``Idempotency-Key`` header) lets the receiver drop a repeat, since a delivery whose answer
was lost is sent again. Only committed notifications are sent (their ids are final), and
no transaction is open while a POST waits for its answer: a slow webhook holds no lock
(on SQLite, not the one write lock the web needs). Each outcome is recorded in a short
transaction of its own; a failed delivery is retried on the next run, up to MAX_ATTEMPTS
(three days of hourly sweeps), then given up and counted as such.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.engine import Engine
from sqlmodel import col

from ledger.model_ops import Notification
from ledger.store import transaction

MAX_ATTEMPTS = 72
RUN_BUDGET = 300.0  # seconds after which a delivery run starts no more POSTs
NO_ANSWER_LIMIT = 3  # POSTs in a row without an answer that end a run to one receiver
Post = Callable[[str, dict[str, Any], dict[str, str]], int]  # (url, body, headers) → status


@dataclass(frozen=True)
class Delivery:
    """One delivery run: how many went out, how many failed (kept for a retry unless given
    up: their last attempt failed)."""

    delivered: int
    failed: int
    given_up: int = 0


@dataclass
class Tally:
    """A delivery run's counts, kept as each attempt's outcome is recorded on its row."""

    delivered: int = 0
    failed: int = 0
    given_up: int = 0

    def record(self, row: Any, error: str | None, now: dt.datetime) -> None:
        """One attempt on ``row`` (a notification, or an owner's delivery of one): delivered
        when ``error`` is None, else failed, and given up at ``MAX_ATTEMPTS``."""
        row.attempts += 1
        row.last_error = error
        if error is None:
            row.delivered_at = now
            self.delivered += 1
            return
        self.failed += 1
        if row.attempts >= MAX_ATTEMPTS:
            self.given_up += 1

    def done(self) -> Delivery:
        return Delivery(self.delivered, self.failed, self.given_up)


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


def deliver(
    engine: Engine,
    url: str,
    post: Post,
    now: dt.datetime,
    batch: int = 100,
    budget: float = RUN_BUDGET,
) -> Delivery:
    """POST undelivered notifications to ``url``; each is marked delivered on a 2xx answer.

    Each batch is read committed, then each notification is sent with no transaction open,
    and its outcome recorded at once: a crash after a POST sends it again next time, under
    the same key, never a different one. Batches follow one another (oldest first, each
    notification tried once a run) until none is left or ``budget`` seconds have passed,
    so refused ones do not hold up the rest. A POST without an answer (unreachable, too
    slow, the connection reset) is left for the next run and the next one tried: one
    notification the receiver chokes on holds up nothing; ``NO_ANSWER_LIMIT`` in a row end
    the run, since the receiver is down and every other POST would wait as long.
    """
    tally = Tally()
    started, after, silent = time.monotonic(), 0, 0
    while True:
        with transaction(engine, write=False) as session:
            docs = [document(n) for n in session.execute(_waiting(after, batch)).scalars()]
        for doc in docs:
            if time.monotonic() - started > budget:
                return tally.done()  # the rest waits for the next run, not counted
            headers = {"Idempotency-Key": f"notification-{doc['id']}"}
            error, answered = attempt(functools.partial(post, url, doc, headers))
            with transaction(engine) as session:
                row = session.get(Notification, doc["id"])
                assert row is not None  # notifications are never deleted
                tally.record(row, error, now)
            silent = 0 if answered else silent + 1
            if silent >= NO_ANSWER_LIMIT:
                return tally.done()
        if len(docs) < batch:
            return tally.done()
        after = docs[-1]["id"]


def _waiting(after: int, batch: int) -> Select[Notification]:
    return (
        select(Notification)
        .where(
            col(Notification.id) > after,
            col(Notification.delivered_at).is_(None),
            col(Notification.attempts) < MAX_ATTEMPTS,
        )
        .order_by(col(Notification.id))
        .limit(batch)
    )


def unanswered(error: str | None) -> bool:
    """Whether a recorded attempt's error says the receiver gave no answer (as ``attempt``
    writes them: an HTTP refusal is ``HTTP <status>``)."""
    return error is not None and not error.startswith("HTTP ")


def attempt(send: Callable[[], int]) -> tuple[str | None, bool]:
    """One POST: None when the receiver took it (2xx), else why not; and whether it answered
    at all (a refusal of one notification says nothing about the next, no answer does)."""
    try:
        status = send()
    except Exception as exc:  # network errors of any client: retried on the next run
        return f"{type(exc).__name__}: {exc}"[:500], False
    return (None if 200 <= status < 300 else f"HTTP {status}"), True
