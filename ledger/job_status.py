"""The daily jobs' latest runs, for the regulator's overview: which ran, when, how it went.

The scheduler (``app/jobs.py``) records one ``job_runs`` row per daily job and day, a day of
the jurisdiction's clock (``local_day``): its nights are the city's nights.
The table also holds the audits a regulator asks for (``audit_request`` and its answer
``audit_request_done``, ``ledger.audit_requests``): a request and its answer, not a daily
run, so they are not listed here (the overview's "last audit" shows their verdict).

A run's ``detail`` is JSON the scheduler wrote; it is still read defensively: a detail
that is not the shape this module knows gives ``facts=None`` ("detail unreadable"),
never an exception.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session, col

from ledger.model_ops import JobRun

# The daily jobs of app/jobs.py (``_daily``), in the order the overview lists them.
DAILY_JOBS = ("audit", "stale_report", "partitions", "purge_reports", "purge_deliveries")
# Their hours on the jurisdiction's clock, which app/jobs.py schedules them at: at night
# where the cylinders are, before the morning's deliveries and fills (the audit reads the
# whole ledger). Each is tried again every hour after its hour until it has run that day.
NIGHTLY_HOURS = {
    "partitions": 1, "purge_reports": 1, "purge_deliveries": 1, "stale_report": 2, "audit": 3,
}  # fmt: skip
DEFAULT_ZONE = "Asia/Shanghai"  # config LOCAL_TIMEZONE (env LEDGER_TIMEZONE)
# By 06:00 local a healthy scheduler has recorded the day's run of every daily job: three
# hours (three tries) after the last job's hour.
DUE_AFTER = dt.timedelta(hours=6)
TEXT_MAX = 200  # a one-line summary: a long message (an audit's first problem) is cut

Facts = dict[str, Any]


@dataclass(frozen=True)
class JobStatus:
    """A daily job's latest run (``period`` None: it never ran) and whether it is late."""

    job: str
    period: str | None
    finished_at: dt.datetime | None
    ok: bool | None
    overdue: bool
    facts: Facts | None  # what the detail says, by job; None when the detail is unreadable

    @property
    def ran(self) -> bool:
        """Whether the job has any run recorded."""
        return self.period is not None


def local_day(now: dt.datetime, zone: str = DEFAULT_ZONE) -> dt.date:
    """The day ``now`` falls on by the jurisdiction's clock: a daily job's period. A naive
    ``now`` is taken as UTC."""
    aware = now.replace(tzinfo=dt.UTC) if now.tzinfo is None else now
    return aware.astimezone(ZoneInfo(zone)).date()


def due_day(now: dt.datetime, zone: str = DEFAULT_ZONE) -> dt.date:
    """The local day whose run a daily job must have recorded by ``now``.

    Before 06:00 local (``DUE_AFTER``) that is yesterday, since today's run may not have
    happened yet; from 06:00 on it is today.
    """
    return local_day(now - DUE_AFTER, zone)


def is_overdue(period: str | None, now: dt.datetime, zone: str = DEFAULT_ZONE) -> bool:
    """Whether a daily job whose latest run is for ``period`` (a local day, "YYYY-MM-DD")
    is late: its latest day is before ``due_day(now)``.

    So a job is on time with today's run at any hour, and with yesterday's until 06:00
    local; never having run, or a period that is not a day, counts as late (nothing shows
    that it ran). A failed run is a run: it is shown as failed, not as late.
    """
    if period is None:
        return True
    try:
        day = dt.date.fromisoformat(period)
    except ValueError:
        return True
    return day < due_day(now, zone)


def latest_runs(
    session: Session, now: dt.datetime, zone: str = DEFAULT_ZONE,
    jobs: Sequence[str] = DAILY_JOBS,
) -> list[JobStatus]:  # fmt: skip
    """Each daily job's newest run, one indexed query per job (the unique (job, period)
    key serves ``WHERE job = ? ORDER BY period DESC LIMIT 1``)."""
    return [_status(job, _latest(session, job), now, zone) for job in jobs]


def _latest(session: Session, job: str) -> JobRun | None:
    query = (
        select(JobRun).where(col(JobRun.job) == job).order_by(col(JobRun.period).desc()).limit(1)
    )
    return session.execute(query).scalar_one_or_none()


def _status(job: str, run: JobRun | None, now: dt.datetime, zone: str) -> JobStatus:
    if run is None:
        return JobStatus(job, None, None, None, overdue=True, facts=None)
    return JobStatus(
        job,
        run.period,
        run.finished_at,
        bool(run.ok),
        overdue=is_overdue(run.period, now, zone),
        facts=facts_of(job, run.detail),
    )


def facts_of(job: str, detail: str | None) -> Facts | None:
    """What a run's detail says, in the fields the overview shows for that job; None when
    the detail is not JSON, or not the shape the job writes."""
    reader = _READERS.get(job)
    if reader is None or detail is None:
        return None
    try:
        doc = json.loads(detail)
        return reader(_mapping(doc))
    except (ValueError, TypeError, KeyError, RecursionError):  # JSONDecodeError: ValueError
        return None


def _stale(doc: dict[str, Any]) -> Facts:
    """``ledger.sweeps.stale_report``: how many cylinders, unseen for how many days."""
    return {"count": _count(doc["count"]), "days": _count(doc["days"])}


def _audit(doc: dict[str, Any]) -> Facts:
    """``app.jobs.nightly_audit``: ``{"ok", "detail": <the verdict of app.audits>}``."""
    verdict = _mapping(doc["detail"])
    ok = verdict["ok"]
    if not isinstance(ok, bool):
        raise TypeError("ok")
    bad = verdict.get("first_bad") or verdict.get("error") or ""
    return {
        "ok": ok,
        "events": _count(verdict.get("events", 0)),
        "checkpoints": _count(verdict.get("checkpoints", 0)),
        "first_bad": _text(bad),
    }


def _partitions(doc: dict[str, Any]) -> Facts:
    """``app.jobs.partition_maintenance``: the partitions created, or why it failed."""
    if "error" in doc:
        return {"error": _text(doc["error"])}
    created = doc["created"]
    if not isinstance(created, list):
        raise TypeError("created")
    return {"created": len(created)}


def _purge(doc: dict[str, Any]) -> Facts:
    """``app.jobs.purge_reports``: reports blanked, and the retention in days."""
    return {"purged": _count(doc["purged"]), "keep_days": _count(doc["keep_days"])}


def _purge_deliveries(doc: dict[str, Any]) -> Facts:
    """``app.jobs.purge_deliveries``: delivery records deleted, and the retention in days."""
    return {"deleted": _count(doc["deleted"]), "keep_days": _count(doc["keep_days"])}


_READERS: dict[str, Callable[[dict[str, Any]], Facts]] = {
    "stale_report": _stale,
    "audit": _audit,
    "partitions": _partitions,
    "purge_reports": _purge,
    "purge_deliveries": _purge_deliveries,
}


def _mapping(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError("not an object")
    return value


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError("not a count")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("not text")
    line = " ".join(value.split())
    return line if len(line) <= TEXT_MAX else line[: TEXT_MAX - 1] + "…"
