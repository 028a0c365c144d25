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
from typing import Any, TypeVar

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
RUN_BUDGET = notifications.RUN_BUDGET
RUN_ROWS = 20_000  # rows one run offers at most: more than 300 s of POSTs could send
KEEP_DAYS = 90  # docs/privacy.md: finished delivery records, kept for the owner's questions
Query = TypeVar("Query", bound=Select[*tuple[Any, ...]])
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
    most: int = RUN_ROWS,
) -> Delivery:
    """POST undelivered notifications to their owners' webhooks; each is marked delivered on
    a 2xx answer. Read committed, sent with no transaction open, each outcome recorded at once.

    Fair between owners: a run orders the waiting rows in turns (every owner's oldest
    first, then every owner's second, and so on; at most ``most``), then offers each once,
    read ``batch`` at a time with its webhook as it is then, until none is left or
    ``budget`` seconds have passed: one owner's backlog drains without holding up the
    others. An HTTP refusal of one notification does not hold up the next; a POST without
    an answer (unreachable, too slow, refused as not public) is left for the next run, and
    ``NO_ANSWER_LIMIT`` in a row end the owner's run: a dead or slow receiver costs the
    others a few waits, never the run. Each POST is signed at its own moment (``clock``).
    """
    with transaction(engine, write=False) as session:
        order: list[tuple[int, int]] = [(n, o) for n, o in session.execute(_in_turns(most))]
    tally = notifications.Tally()
    silent: dict[int, int] = {}  # owner → POSTs in a row without an answer
    started = time.monotonic()
    for at in range(0, len(order), batch):
        chunk = [(n, o) for n, o in order[at : at + batch] if _answering(silent, o)]
        with transaction(engine, write=False) as session:
            found = {
                n.id: (url, secret, body_bytes(document(n)))
                for n, url, secret in session.execute(_to_send([n for n, _ in chunk]))
            }
        for nid, owner in chunk:
            if time.monotonic() - started > budget:
                return tally.done()  # the rest waits for the next run, not counted
            if nid not in found or not _answering(silent, owner):
                continue  # delivered or removed meanwhile, or its receiver is down
            url, secret, body = found[nid]
            headers = {
                "Content-Type": "application/json",
                "Idempotency-Key": f"notification-{nid}",
                HEADER: signature(secret, int(clock()), body),
            }
            error, answered = notifications.attempt(functools.partial(post, url, body, headers))
            with transaction(engine) as session:
                row = session.get(OwnerDelivery, nid)
                if row is not None:  # else the webhook was removed meanwhile, its backlog too
                    tally.record(row, error, now)
                    row.last_attempt_at = now  # a given-up row's retention counts from here
            silent[owner] = 0 if answered else silent.get(owner, 0) + 1
    return tally.done()


def _answering(silent: dict[int, int], owner: int) -> bool:
    return silent.get(owner, 0) < notifications.NO_ANSWER_LIMIT


def _in_turns(most: int) -> Select[int, int]:
    """The waiting rows' (notification, owner), in turns, at most ``most``; each under the
    webhook generation it was queued for only (``OwnerWebhook.generation``), so a row
    queued for a removed webhook is neither sent nor given a turn."""
    d = OwnerDelivery
    turn = func.row_number().over(
        partition_by=col(d.enterprise_id), order_by=col(d.notification_id)
    )
    ranked = (
        _waiting(select(col(d.notification_id), col(d.enterprise_id)))
        .add_columns(turn.label("turn"))
        .subquery()
    )
    return (
        select(ranked.c.notification_id, ranked.c.enterprise_id)
        .order_by(ranked.c.turn, ranked.c.notification_id)
        .limit(most)
    )


def _to_send(ids: list[int]) -> Select[Notification, str, str]:
    """Those of ``ids`` still waiting, with their webhook's URL and secret as they are now."""
    query = select(Notification, col(OwnerWebhook.url), col(OwnerWebhook.secret))
    joined = query.join(OwnerDelivery, col(OwnerDelivery.notification_id) == Notification.id)
    return _waiting(joined).where(col(OwnerDelivery.notification_id).in_(ids))


def _waiting(query: Query) -> Query:
    """``query`` (from ``owner_deliveries``) kept to the rows still to try, joined to the
    webhook of the generation they were queued for."""
    d, w = OwnerDelivery, OwnerWebhook
    same = and_(
        col(w.enterprise_id) == col(d.enterprise_id), col(w.generation) == col(d.generation)
    )
    return query.join(w, same).where(
        col(d.delivered_at).is_(None), col(d.attempts) < notifications.MAX_ATTEMPTS
    )


def purge_finished(session: Session, now: dt.datetime, keep_days: int = KEEP_DAYS) -> int:
    """Delete the delivery records finished more than ``keep_days`` ago; how many.

    Finished: delivered (counted from ``delivered_at``), or given up after ``MAX_ATTEMPTS``
    (from its last attempt: a dead receiver's backlog is tried a few rows a run, so a row
    can be given up long after it was queued). A row still being retried is never deleted,
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
