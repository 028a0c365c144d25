"""The 24-hour store of first answers to keyed writes (DESIGN §7: writes are idempotent).

A client sends ``Idempotency-Key`` with a write; the first request claims the key for its
actor (a row with no answer yet), runs, and its answer is kept. A retry within 24 hours
gets that answer back and records nothing; a retry while the first is still running, or
the same key on a different request, is a conflict. A claim whose request died (a crash
between claim and answer, or kill -9) is taken over after ``STALE_CLAIM``; until then a
retry is told to wait (``StillRunning``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from ledger.errors import Conflict, Invalid
from ledger.model_idempotency import IdempotentAnswer

KEEP = dt.timedelta(hours=24)
STALE_CLAIM = dt.timedelta(seconds=30)  # a request is never slower (the worker timeout)
MAX_KEY = 255
MAX_BODY = 4 * 1024 * 1024  # larger answers (a big label sheet) are not kept; a retry redoes it


class StillRunning(Conflict):
    """The first request with this key has not answered yet: retry in a moment."""


@dataclass(frozen=True)
class Answer:
    """A remembered answer: status, content type and body bytes."""

    status: int
    content_type: str | None
    body: bytes


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What identifies a request for one key: its method, path (with query) and body."""
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def check_key(key: str) -> str:
    """The key if it is 1–255 printable ASCII characters, else Invalid."""
    if not 1 <= len(key) <= MAX_KEY or not key.isascii() or not key.isprintable():
        raise Invalid("Idempotency-Key must be 1–255 printable ASCII characters")
    return key


def claim(
    session: Session,
    actor_id: int,
    key: str,
    print_: str,
    now: dt.datetime,
    stale: dt.timedelta = STALE_CLAIM,
) -> Answer | None:
    """Claim the key for a new request (None), or the first answer for a retry.

    Raises Conflict when the key was used for a different request, or when its first
    request is still running. Expired rows and dead claims are replaced.
    """
    check_key(key)
    row = session.get(IdempotentAnswer, (actor_id, key))
    if row is not None and _expired(row, now, stale):
        session.delete(row)
        session.flush()
        row = None
    if row is None:
        session.add(
            IdempotentAnswer(actor_id=actor_id, key=key, fingerprint=print_, created_at=now)
        )
        try:
            session.flush()
        except IntegrityError:  # another request claimed it between our read and insert
            raise StillRunning(_RUNNING, idempotency_key=key) from None
        return None
    if row.fingerprint != print_:
        raise Conflict(
            "该幂等键已用于另一请求 / this Idempotency-Key was used for a different request",
            idempotency_key=key,
        )
    if row.status is None:
        raise StillRunning(_RUNNING, idempotency_key=key)
    return Answer(row.status, row.content_type, row.body or b"")


_RUNNING = "同一幂等键的请求仍在处理 / a request with this Idempotency-Key is still running"


def _expired(row: IdempotentAnswer, now: dt.datetime, stale: dt.timedelta) -> bool:
    age = now - row.created_at
    return age >= KEEP or (row.status is None and age >= stale)


def remember(session: Session, actor_id: int, key: str, answer: Answer) -> bool:
    """Keep the first answer on the claimed key; False when it is too large to keep."""
    row = session.get(IdempotentAnswer, (actor_id, key))
    if row is None or row.status is not None:
        return False
    if len(answer.body) > MAX_BODY:
        session.delete(row)
        return False
    row.status, row.content_type, row.body = answer.status, answer.content_type, answer.body
    session.add(row)
    return True


def release(session: Session, actor_id: int, key: str) -> None:
    """Drop an unanswered claim (the request failed in a way a retry may fix)."""
    session.execute(
        delete(IdempotentAnswer).where(
            col(IdempotentAnswer.actor_id) == actor_id,
            col(IdempotentAnswer.key) == key,
            col(IdempotentAnswer.status).is_(None),
        )
    )


def purge(session: Session, now: dt.datetime) -> int:
    """Delete every answer older than 24 hours; how many were deleted."""
    result = session.execute(
        delete(IdempotentAnswer).where(col(IdempotentAnswer.created_at) < now - KEEP)
    )
    return int(getattr(result, "rowcount", 0) or 0)
