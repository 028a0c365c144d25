"""An audit a regulator asked for, run by the scheduler process instead of a web request.

Auditing a large ledger takes minutes; a web worker is stopped after seconds. So the
regulator's button records a request (a ``job_runs`` row, ``audit_request``), and the
scheduler's ``requested_audit`` job runs it and records that it did (``audit_request_done``
with the same period): a request is pending while it has no such record. Rows are only
ever added, and the unique (job, period) key keeps a request from being run twice.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from ledger.model_ops import JobRun

REQUEST = "audit_request"
DONE = "audit_request_done"


def pending(session: Session) -> JobRun | None:
    """The oldest request not yet run, if any."""
    done = select(col(JobRun.period)).where(col(JobRun.job) == DONE)
    query = (
        select(JobRun)
        .where(col(JobRun.job) == REQUEST, col(JobRun.period).not_in(done))
        .order_by(col(JobRun.started_at))
        .limit(1)
    )
    return session.execute(query).scalar_one_or_none()


def request(session: Session, by: str, now: dt.datetime) -> bool:
    """Ask for an audit; False (nothing recorded) when one is already waiting."""
    if pending(session) is not None:
        return False
    row = JobRun(
        job=REQUEST, period=now.isoformat(timespec="microseconds"), started_at=now,
        finished_at=now, ok=True, detail=json.dumps({"by": by}, ensure_ascii=False),
    )  # fmt: skip
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # the same instant, asked twice
        return False
    return True


def mark_done(
    session: Session, asked: JobRun, ok: bool, detail: dict[str, Any], now: dt.datetime
) -> bool:
    """Record that a request was run; False when it already was (by another scheduler)."""
    row = JobRun(
        job=DONE, period=asked.period, started_at=asked.started_at, finished_at=now, ok=ok,
        detail=json.dumps(detail, ensure_ascii=False, sort_keys=True),
    )  # fmt: skip
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return False
    return True
