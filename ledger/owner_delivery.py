"""Delivery to owners' own webhooks, signed: each owner receives its own notifications.

As the global webhook (``ledger.notifications``): one JSON POST per notification, at least
once, under the ``Idempotency-Key`` ``notification-{id}``; only committed rows are sent, no
transaction is open while a POST waits, each outcome is recorded in a short transaction of
its own, and a delivery is given up after ``notifications.MAX_ATTEMPTS``. The body is the
same document, as exact bytes (compact, keys sorted, UTF-8), signed Stripe-style:
``Ledger-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``, the
key being the webhook's 64-character secret as text. Each POST, a retry included, is
signed when it starts, so its timestamp is always recent. The webhook is read at sending
time: a replaced one gets the backlog at its new URL, under its new secret.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, and_, delete, func, or_, select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from ledger import notifications, retention
from ledger.model_ops import Notification
from ledger.model_webhooks import OwnerDelivery, OwnerWebhook
from ledger.notifications import Delivery, document
from ledger.store import transaction

HEADER = "Ledger-Signature"
TOLERANCE = 300  # seconds a receiver accepts between the signature's time and its clock
PER_OWNER = 10  # an owner's rows tried in one run at most
RUN_BUDGET = notifications.RUN_BUDGET
KEEP_DAYS = 90  # docs/privacy.md: finished delivery records, kept for the owner's questions
PostBytes = Callable[[str, bytes, dict[str, str]], int]  # (url, body, headers) → status


def body_bytes(doc: dict[str, Any]) -> bytes:
    """The exact bytes POSTed and signed: compact JSON, keys sorted, UTF-8."""
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Ledger-Signature`` header's value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(
    secret: str, header: str, body: bytes, now: float, tolerance: int = TOLERANCE
) -> bool:
    """Whether ``header`` signs ``body`` under ``secret`` within ``tolerance`` seconds of
    ``now`` (unix seconds): the receiver's check, written to be copied."""
    fields: dict[str, str] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        fields[key] = value
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False  # a replayed old request, or a clock too far off
    mac = hmac.new(secret.encode(), f"{fields['t']}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(mac.hexdigest().encode(), fields.get("v1", "").encode())


def deliver_to_owners(
    engine: Engine,
    post: PostBytes,
    now: dt.datetime,
    batch: int = 100,
    budget: float = RUN_BUDGET,
    clock: Callable[[], float] = time.time,
) -> Delivery:
    """POST undelivered notifications to their owners' webhooks; each is marked delivered on
    a 2xx answer. Read committed, sent with no transaction open, each outcome recorded at once.

    Fair between owners: at most ``PER_OWNER`` of an owner's rows per run, taken in turns
    (every owner's oldest first); an owner whose receiver did not answer (unreachable, too
    slow, refused as not public) gets no more tries this run, while an HTTP refusal of one
    notification does not hold up the next; no POST starts after ``budget`` seconds. So a
    dead or slow receiver costs the others one attempt's wait, never the run. Each POST is
    signed at its own moment (``clock``).
    """
    with transaction(engine, write=False) as session:
        waiting = [
            (n.id, owner, url, secret, body_bytes(document(n)))
            for n, owner, url, secret in session.execute(_waiting(batch))
        ]
    tally = notifications.Tally()
    failing: set[int] = set()
    started = time.monotonic()
    for nid, owner, url, secret, body in waiting:
        if owner in failing or time.monotonic() - started > budget:
            continue  # waits for the next run, not counted as an attempt
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": f"notification-{nid}",
            HEADER: signature(secret, int(clock()), body),
        }
        error, answered = notifications.attempt(functools.partial(post, url, body, headers))
        with transaction(engine) as session:
            row = session.get(OwnerDelivery, nid)
            if row is None:  # the webhook was removed meanwhile, its backlog with it
                continue
            tally.record(row, error, now)
            row.last_attempt_at = now  # a given-up row's retention counts from here
        if not answered:  # unreachable or too slow: its other rows would wait as long
            failing.add(owner)
    return tally.done()


def _waiting(batch: int) -> Select[tuple[Notification, int, str, str]]:
    """Up to ``batch`` undelivered rows, at most ``PER_OWNER`` per owner, in turns; each
    under the webhook generation it was queued for only (``OwnerWebhook.generation``), so a
    row queued for a removed webhook is neither sent nor given a turn."""
    d, w = OwnerDelivery, OwnerWebhook
    turn = func.row_number().over(
        partition_by=col(d.enterprise_id), order_by=col(d.notification_id)
    )
    ranked = (
        select(col(d.notification_id), col(d.enterprise_id), col(w.url), col(w.secret))
        .add_columns(turn.label("turn"))
        .join(
            w,
            and_(
                col(w.enterprise_id) == col(d.enterprise_id),
                col(w.generation) == col(d.generation),
            ),
        )
        .where(col(d.delivered_at).is_(None), col(d.attempts) < notifications.MAX_ATTEMPTS)
        .subquery()
    )
    return (
        select(Notification, ranked.c.enterprise_id, ranked.c.url, ranked.c.secret)
        .join(ranked, ranked.c.notification_id == col(Notification.id))
        .where(ranked.c.turn <= PER_OWNER)
        .order_by(ranked.c.turn, ranked.c.notification_id)
        .limit(batch)
    )


def purge_finished(session: Session, now: dt.datetime, keep_days: int = KEEP_DAYS) -> int:
    """Delete the delivery records finished more than ``keep_days`` ago; how many.

    Finished: delivered (counted from ``delivered_at``), or given up after ``MAX_ATTEMPTS``
    (from its last attempt: a dead receiver's backlog is tried one row a run, so a row can
    be given up long after it was queued). A row still being retried is never deleted,
    whatever its age, nor is the notification itself: the owner's list of notifications
    keeps every one. Nothing queues a row again once its notification has one, so a
    deleted record is not sent twice. Idempotent.
    """
    cutoff = retention.cutoff(now, keep_days)
    d = OwnerDelivery
    given_up = and_(
        col(d.delivered_at).is_(None),
        col(d.attempts) >= notifications.MAX_ATTEMPTS,
        func.coalesce(col(d.last_attempt_at), col(d.created_at)) < cutoff,
    )
    query = delete(d).where(or_(col(d.delivered_at) < cutoff, given_up))
    result = session.execute(query.execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)
