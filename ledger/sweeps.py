"""The scheduler's use cases, pure of Flask: the expiry sweep, the stale report, run records.

Each is idempotent: a notification is unique per (cylinder, kind, due date) and a daily
job's record per (job, day), so a second scheduler process, or a retry after a crash
between two statements, inserts nothing twice. The caller holds the job's advisory lock
and commits. The sweep queues each notification it inserts for its owner's own webhook,
when the owner has one, in the same transaction (``owner_webhooks.queue``).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, exists, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from ledger.model import Cylinder
from ledger.model_ops import JobRun, Notification
from ledger.model_rules import CylinderStateRow
from ledger.oversight import RETIRED_STATUSES, stale
from ledger.owner_webhooks import queue

KINDS = ("overdue", "end_of_life")
MESSAGES = {
    "overdue": "钢瓶 {code} 已超过定期检验日期 {due}，请停止充装并送检。"
    " Cylinder {code} is overdue for its periodic inspection (due {due}).",
    "end_of_life": "钢瓶 {code} 已达到设计使用年限 {due}，请报废。"
    " Cylinder {code} reached the end of its service life on {due}: scrap it.",
}


@dataclass(frozen=True)
class SweepResult:
    """What one expiry sweep found and wrote."""

    overdue: int
    end_of_life: int
    to_owners: int = 0  # of them, queued for their owners' own webhooks

    @property
    def created(self) -> int:
        """Notifications written by this sweep."""
        return self.overdue + self.end_of_life


def expiry_sweep(session: Session, today: dt.date, now: dt.datetime) -> SweepResult:
    """Notify each owner of cylinders in use whose inspection or service life has passed."""
    s = CylinderStateRow
    made: dict[str, int] = {}
    queued = 0
    for kind, due in (("overdue", s.next_inspection_due), ("end_of_life", s.end_of_life)):
        already = exists().where(
            and_(
                col(Notification.cylinder_id) == col(s.cylinder_id),
                col(Notification.kind) == kind,
                col(Notification.due_on) == col(due),
            )
        )
        query = (
            select(col(s.cylinder_id), col(s.owner_id), col(Cylinder.code), col(due))
            .join(Cylinder, col(Cylinder.id) == col(s.cylinder_id))
            .where(col(due) <= today, col(s.status).not_in(RETIRED_STATUSES), ~already)
        )
        rows = [
            Notification(
                enterprise_id=owner,
                cylinder_id=cid,
                code=code,
                kind=kind,
                due_on=when,
                message=MESSAGES[kind].format(code=code, due=when.isoformat()),
                created_at=now,
            )
            for cid, owner, code, when in session.execute(query)
        ]
        session.add_all(rows)
        session.flush()
        made[kind] = len(rows)
        queued += queue(session, rows, now)  # these rows alone: the ones just inserted
    return SweepResult(made["overdue"], made["end_of_life"], queued)


def stale_report(session: Session, now: dt.datetime, days: int) -> dict[str, Any]:
    """Cylinders no event has touched for ``days`` days, counted by owner, with the oldest."""
    rows = stale(session, now, days, limit=100_000)
    by_owner: dict[str, int] = {}
    for row in rows:
        by_owner[row.owner] = by_owner.get(row.owner, 0) + 1
    return {
        "days": days,
        "count": len(rows),
        "by_owner": by_owner,
        "oldest": [
            {"code": r.code, "owner": r.owner, "last_event_at": r.last_event_at.isoformat()}
            for r in rows[:20]
        ],
    }


def already_ran(session: Session, job: str, period: str) -> bool:
    """Whether a daily job has a record for this period."""
    query = select(col(JobRun.id)).where(col(JobRun.job) == job, col(JobRun.period) == period)
    return session.execute(query).first() is not None


def record_run(
    session: Session, job: str, period: str, started: dt.datetime, ok: bool,
    detail: dict[str, Any], finished: dt.datetime,
) -> bool:  # fmt: skip
    """Record a daily job's run; False (nothing written) when it was already recorded."""
    row = JobRun(
        job=job, period=period, started_at=started, finished_at=finished, ok=ok,
        detail=json.dumps(detail, ensure_ascii=False, sort_keys=True),
    )  # fmt: skip
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return False
    return True
