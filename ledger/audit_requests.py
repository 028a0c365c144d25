"""An audit a regulator asked for, run by the scheduler process instead of a web request.

Auditing a large ledger takes minutes; a web worker is stopped after seconds. So the
regulator's button records a request (a ``job_runs`` row, ``audit_request``), and the
scheduler's ``requested_audit`` job runs it and records that it did (``audit_request_done``
with the same period): a request is pending while it has no such record. Rows are only
ever added, and the unique (job, period) key keeps a request from being run twice.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from ledger.model_ops import JobRun
from ledger.store import advisory_lock
from ledger.sweeps import record_run

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
    """Ask for an audit; False (nothing recorded) when one is already waiting (two presses
    at once: the second waits for the first's transaction, then finds its request)."""
    advisory_lock(session, REQUEST)  # SQLite: BEGIN IMMEDIATE serialises them already
    if pending(session) is not None:
        return False
    period = now.isoformat(timespec="microseconds")  # the same instant twice: one request
    return record_run(session, REQUEST, period, now, True, {"by": by}, now)


def mark_done(
    session: Session, asked: JobRun, ok: bool, detail: dict[str, Any], now: dt.datetime
) -> bool:
    """Record that a request was run; False when it already was (by another scheduler)."""
    return record_run(session, DONE, asked.period, asked.started_at, ok, detail, now)
