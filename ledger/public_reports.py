"""The public's reports (举报) from a cylinder's page, and the regulator's review queue.

A public report is a lead, not evidence: it never becomes an event and never holds a
cylinder by itself; a regulator reviews it and, if warranted, records a hold (``held``)
through the ordinary use case. Reports are limited per sender (an in-database count over
a salted hash of the address, so every worker shares the limit and no address is kept).

Retention (docs/privacy.md §2): a closed report keeps its personal fields — the note (where
a reporter may leave a phone number), the sender's hash and the reviewer's note — for
``KEEP_DAYS`` after its review; ``purge_expired_reports`` then blanks them, keeping the
code, kind, status and dates for the regulator's statistics.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from ledger import codes, retention
from ledger.errors import Conflict, Forbidden, Invalid, NotFound
from ledger.model import Actor, Cylinder, Role
from ledger.model_people import PublicReport
from ledger.model_rules import RetiredCode
from ledger.oversight import Listing

KINDS = ("suspected_fake", "damaged", "leak", "overdue", "illegal_delivery", "other")
STATUSES = ("open", "reviewed", "dismissed")
MAX_NOTE = 500
RATE_LIMIT = 5  # reports per sender per window
RATE_WINDOW = dt.timedelta(hours=1)
KEEP_DAYS = 730  # docs/privacy.md: closed reports' personal fields kept 2 years after review


class RateLimited(Conflict):
    """Too many reports from one sender in the window."""


@dataclass(frozen=True)
class Filed:
    """A filed report, and whether this call created it (False: a double submit)."""

    report: PublicReport
    created: bool


def sender_hash(address: str, salt: str) -> str:
    """A salted hash of the sender's address: enough to count, not to identify."""
    return hashlib.sha256(f"{salt}\x00{address}".encode()).hexdigest()


def file_report(
    session: Session,
    code: str,
    kind: str,
    note: str,
    form_token: str,
    sender: str,
    now: dt.datetime,
) -> Filed:
    """File a report on a code into the review queue; a resubmitted form files nothing new."""
    if not 16 <= len(form_token) <= 64:
        raise Invalid("表单已失效，请刷新页面 / the form is stale: reload the page")
    earlier = session.execute(
        select(PublicReport).where(col(PublicReport.form_token) == form_token)
    ).scalar()
    if earlier is not None:
        return Filed(earlier, False)
    code = codes.normalise(code)
    if not codes.is_valid_code(code):
        raise Invalid("不是气瓶码 / not a cylinder code")
    if kind not in KINDS:
        raise Invalid("请选择问题类型 / choose what the problem is", field="kind")
    note = clean_note(note)
    recent = session.execute(
        select(func.count())
        .select_from(PublicReport)
        .where(
            col(PublicReport.ip_hash) == sender, col(PublicReport.created_at) > now - RATE_WINDOW
        )
    ).scalar_one()
    if recent >= RATE_LIMIT:
        raise RateLimited("举报过于频繁，请稍后再试 / too many reports: try again later")
    report = PublicReport(
        form_token=form_token, code=code, cylinder_id=_cylinder_id(session, code), kind=kind,
        note=note, ip_hash=sender, created_at=now,
    )  # fmt: skip
    try:
        with session.begin_nested():
            session.add(report)
            session.flush()
    except IntegrityError:  # the same form submitted twice at once: the other one won
        winner = session.execute(
            select(PublicReport).where(col(PublicReport.form_token) == form_token)
        ).scalar_one()
        return Filed(winner, False)
    return Filed(report, True)


def clean_note(note: str) -> str:
    """A reporter's note as kept: line breaks as LF (a textarea sends CR LF), lines
    and tabs allowed; other control characters and over ``MAX_NOTE`` characters refused."""
    note = note.replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(note) > MAX_NOTE:
        raise Invalid("说明最多500个字符 / the note has at most 500 characters", field="note")
    if not all(ch.isprintable() or ch in "\n\t" for ch in note):
        raise Invalid(
            "说明含有不可显示的控制字符 / the note contains control characters", field="note"
        )
    return note


def _cylinder_id(session: Session, code: str) -> str | None:
    found = session.execute(select(col(Cylinder.id)).where(col(Cylinder.code) == code)).scalar()
    if found is None and (retired := session.get(RetiredCode, code)) is not None:
        found = retired.cylinder_id
    return found


def _check_reviewer(actor: Actor) -> None:
    if actor.role not in (Role.REGULATOR, Role.ADMIN):
        raise Forbidden("只有监管部门处理举报 / only regulators review public reports")


def queue_listing(actor: Actor, status: str = "open") -> Listing[PublicReport]:
    """The reports of one status, newest first, as a list to count and page (regulators)."""
    _check_reviewer(actor)
    if status not in STATUSES:
        raise Invalid(f"未知的举报状态 / unknown status {status}")
    query = select(PublicReport).where(col(PublicReport.status) == status)
    query = query.order_by(col(PublicReport.created_at).desc(), col(PublicReport.id).desc())
    return Listing(query, _report_of)


def _report_of(row: Any) -> PublicReport:
    report: PublicReport = row[0]
    return report


def cylinder_code(session: Session, report: PublicReport) -> str:
    """The current code of the cylinder a report names: a report filed on a code since
    retired by relabelling (a clone's label) still reaches its cylinder."""
    cylinder = session.get(Cylinder, report.cylinder_id) if report.cylinder_id else None
    if cylinder is None:
        raise NotFound(
            f"举报未对应已登记的气瓶 / the report names no registered cylinder: {report.code}"
        )
    return cylinder.code


def review(
    session: Session, actor: Actor, report_id: int, status: str, note: str, now: dt.datetime
) -> PublicReport:
    """Close an open report as reviewed (acted on) or dismissed, with the reviewer's note;
    a closed report is a conflict (a second decision, such as a hold sent from a stale
    page, must not ride on a review already made)."""
    _check_reviewer(actor)
    if status not in ("reviewed", "dismissed"):
        raise Invalid("处理结果须为已处理或驳回 / reviewed or dismissed")
    report = session.get(PublicReport, report_id)
    if report is None:
        raise NotFound(f"没有此举报 / no public report {report_id}")
    if report.status != "open":
        raise Conflict("此举报已处理，未作任何改动 / the report is already closed: nothing changed")
    # Kept as a reporter's note is (line breaks as LF, no other control characters).
    report.status, report.review_note = status, clean_note(note[:MAX_NOTE]) or None
    report.reviewed_at, report.reviewer_id = now, actor.id
    session.add(report)
    session.flush()
    return report


def open_count(session: Session) -> int:
    """How many reports await review."""
    query = select(func.count()).select_from(PublicReport).where(col(PublicReport.status) == "open")
    return int(session.execute(query).scalar_one())


def purge_expired_reports(session: Session, now: dt.datetime, keep_days: int = KEEP_DAYS) -> int:
    """Blank the personal fields of reports closed more than ``keep_days`` ago; how many.

    The note, the sender's hash and the reviewer's note go; the row stays (code, kind,
    status, dates). Open reports are kept until reviewed. Idempotent: a second run finds
    nothing left to blank.
    """
    before = retention.cutoff(now, keep_days)
    closed_at = func.coalesce(col(PublicReport.reviewed_at), col(PublicReport.created_at))
    result = session.execute(
        update(PublicReport)
        .where(
            col(PublicReport.status).in_(("reviewed", "dismissed")),
            closed_at < before,
            or_(
                col(PublicReport.note) != "",
                col(PublicReport.ip_hash) != "",
                col(PublicReport.review_note).is_not(None),
            ),
        )
        .values(note="", ip_hash="", review_note=None)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
