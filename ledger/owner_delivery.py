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
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Select, and_, delete, func, or_, select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from ledger import notifications, retention
from ledger.lanes import Lanes
from ledger.model_ops import Notification
from ledger.model_webhooks import OwnerDelivery, OwnerWebhook
from ledger.notifications import Delivery, document
from ledger.store import transaction

logger = logging.getLogger(__name__)
HEADER = "Ledger-Signature"
TOLERANCE = 300  # seconds a receiver accepts between the signature's time and its clock
RUN_BUDGET = notifications.RUN_BUDGET
RUN_ROWS = 100_000  # rows one run offers at most (its order is read at once; ~10 MB)
LANES = 4  # owners served at once, one POST in flight each (and a connection each)
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
    budget: float = RUN_BUDGET,
    clock: Callable[[], float] = time.time,
    most: int = RUN_ROWS,
    lanes: int = LANES,
) -> Delivery:
    """POST undelivered notifications to their owners' webhooks; each is marked delivered on
    a 2xx answer. Read committed, sent with no transaction open, each outcome recorded at once.

    Fair between owners: a run offers each waiting row once (at most ``most``, the oldest
    in turns), owners taken in turns, ``lanes`` owners served at once with one POST in
    flight each, so a dead or slow receiver holds one lane, never the others' turns; an
    owner whose receiver did not answer last time is served only when no other can be. No
    POST starts after ``budget`` seconds. An HTTP refusal of one notification does not hold
    up the next; a POST without an answer (unreachable, too slow, refused as not public) is
    left for the next run, and ``NO_ANSWER_LIMIT`` in a row end the owner's run. Each row's
    webhook is read just before its POST (a replaced one gets it at its new URL, a removed
    one nothing), and each POST is signed at its own moment (``clock``).
    """
    with transaction(engine, write=False) as session:
        rows = [Waiting(*row) for row in session.execute(_in_turns(most))]
    run = _Run(engine, post, now, clock, time.monotonic() + budget)
    try:
        run.serve([(r.notification, r.owner) for r in rows], _silent_last(rows), lanes)
    except Exception:
        logger.warning("owner webhook delivery stopped by an error: %s", run.tally.done())
        raise  # what was sent is recorded row by row, the rest waits for the next run
    return run.tally.done()


class Waiting(NamedTuple):
    notification: int
    owner: int
    error: str | None  # its last attempt's, if any
    tried_at: dt.datetime | None


class _Run:
    """One delivery run's shared state: its counts, each owner's POSTs without an answer."""

    def __init__(
        self,
        engine: Engine,
        post: PostBytes,
        now: dt.datetime,
        clock: Callable[[], float],
        deadline: float,
    ) -> None:
        self.engine, self.post, self.now, self.clock = engine, post, now, clock
        self.deadline = deadline
        self.tally = notifications.Tally()
        self.silent: dict[int, int] = {}
        self.lock = threading.Lock()

    def serve(self, rows: list[tuple[int, int]], later: set[int], lanes: int) -> None:
        """Offer ``rows`` (notification, owner) on up to ``lanes`` threads, the ``later``
        owners' when no other's can be; a thread's error stops the others after their POST
        and is raised here."""
        queue = Lanes(rows, stop=lambda: time.monotonic() > self.deadline, later=later)
        threads = min(lanes, len(queue.queues))
        if threads <= 1:
            return self._lane(queue)
        with ThreadPoolExecutor(threads, thread_name_prefix="owner-webhooks") as pool:
            for running in [pool.submit(self._lane, queue) for _ in range(threads)]:
                running.result()

    def _lane(self, queue: Lanes) -> None:
        try:
            while (job := queue.take()) is not None:
                owner, nid = job
                answered = self._offer(nid)
                with self.lock:
                    if answered is not None:
                        self.silent[owner] = 0 if answered else self.silent.get(owner, 0) + 1
                    down = self.silent.get(owner, 0) >= notifications.NO_ANSWER_LIMIT
                queue.done(owner, drop=down)
        except BaseException:
            queue.abort()
            raise

    def _offer(self, nid: int) -> bool | None:
        """POST one row if it still waits under its webhook; whether the receiver answered
        (None: nothing sent, delivered or removed meanwhile)."""
        with transaction(self.engine, write=False) as session:
            found = session.execute(_to_send(nid)).first()
            if found is None:
                return None
            n, url, secret = found
            body = body_bytes(document(n))
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": f"notification-{nid}",
            HEADER: signature(secret, int(self.clock()), body),
        }
        error, answered = notifications.attempt(functools.partial(self.post, url, body, headers))
        with transaction(self.engine) as session:
            row = session.get(OwnerDelivery, nid)
            if row is not None:  # else the webhook was removed meanwhile, its backlog too
                with self.lock:
                    self.tally.record(row, error, self.now)
                row.last_attempt_at = self.now  # a given-up row's retention counts from here
        return answered


def _silent_last(rows: Sequence[Waiting]) -> set[int]:
    """The owners whose receiver did not answer their latest attempt (of the waiting rows).
    A run stamps all its attempts with its own time and takes an owner's rows in id order,
    so of the rows tried at the same time the highest id was tried last."""
    latest: dict[int, Waiting] = {}
    for row in rows:
        if row.tried_at is None:
            continue
        seen = latest.get(row.owner)
        if seen is None or (row.tried_at, row.notification) > (seen.tried_at, seen.notification):
            latest[row.owner] = row
    return {o for o, row in latest.items() if notifications.unanswered(row.error)}


def _in_turns(most: int) -> Select[int, int, str | None, dt.datetime | None]:
    """The waiting rows (notification, owner, last error, last attempt), in turns, at most
    ``most``; each under the webhook generation it was queued for only
    (``OwnerWebhook.generation``), so a row queued for a removed webhook is neither sent nor
    given a turn."""
    d = OwnerDelivery
    turn = func.row_number().over(
        partition_by=col(d.enterprise_id), order_by=col(d.notification_id)
    )
    columns = (d.notification_id, d.enterprise_id, d.last_error, d.last_attempt_at)
    ranked = _waiting(select(*(col(c) for c in columns))).add_columns(turn.label("turn"))
    r = ranked.subquery()
    return (
        select(r.c.notification_id, r.c.enterprise_id, r.c.last_error, r.c.last_attempt_at)
        .order_by(r.c.turn, r.c.notification_id)
        .limit(most)
    )


def _to_send(nid: int) -> Select[Notification, str, str]:
    """Row ``nid`` if it still waits, with its webhook's URL and secret as they are now."""
    query = select(Notification, col(OwnerWebhook.url), col(OwnerWebhook.secret))
    joined = query.join(OwnerDelivery, col(OwnerDelivery.notification_id) == Notification.id)
    return _waiting(joined).where(col(OwnerDelivery.notification_id) == nid)


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
