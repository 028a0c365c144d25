"""Public reports (举报) lose their personal fields once closed past retention (PIPL art. 19).

``purge_expired_reports`` blanks the note, the sender's hash and the reviewer's note of a
report closed more than ``keep_days`` ago; it keeps the row (code, kind, status, dates),
never touches an open report or a recent one, and a second run changes nothing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from app.runtime import runtime
from ledger import public_reports
from ledger.errors import Invalid
from ledger.model import Actor, Role
from ledger.model_people import PublicReport
from ledger.store import transaction

NOW = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
CONTACT = "请回电 138 0000 0000"


def _report(app: Any, filed_days_ago: int, closed_days_ago: int | None) -> int:
    """A report with a contact in its note, filed and (unless None) closed that long ago."""
    with app.app_context(), transaction(runtime().engine) as s:
        filed = public_reports.file_report(
            s, "NOSUCH1", "leak", CONTACT, uuid.uuid4().hex, uuid.uuid4().hex,
            NOW - dt.timedelta(days=filed_days_ago),
        )  # fmt: skip
        if closed_days_ago is not None:
            regulator = s.execute(select(Actor).where(Actor.role == Role.REGULATOR)).scalar()
            assert regulator is not None
            public_reports.review(
                s, regulator, filed.report.id or 0, "reviewed", "已联系举报人 " + CONTACT,
                NOW - dt.timedelta(days=closed_days_ago),
            )  # fmt: skip
        return int(filed.report.id or 0)


def _row(app: Any, report_id: int) -> PublicReport:
    with app.app_context(), transaction(runtime().engine, write=False) as s:
        row = s.get(PublicReport, report_id)
        assert row is not None
        s.expunge(row)
        return row


def _purge(app: Any, keep_days: int = public_reports.KEEP_DAYS) -> int:
    with app.app_context(), transaction(runtime().engine) as s:
        return public_reports.purge_expired_reports(s, NOW, keep_days)


def test_a_report_closed_past_retention_loses_its_personal_fields_and_keeps_the_rest(app):
    old = _report(app, filed_days_ago=800, closed_days_ago=731)
    before = _row(app, old)
    assert _purge(app) == 1
    after = _row(app, old)
    assert after.note == "" and after.ip_hash == "" and after.review_note is None
    kept = ("code", "kind", "status", "created_at", "reviewed_at", "reviewer_id", "cylinder_id")
    assert all(getattr(after, k) == getattr(before, k) for k in kept)


def test_open_and_recent_reports_are_kept_whole(app):
    still_open = _report(app, filed_days_ago=900, closed_days_ago=None)
    recent = _report(app, filed_days_ago=800, closed_days_ago=700)
    assert _purge(app) == 0
    for report_id in (still_open, recent):
        assert CONTACT in _row(app, report_id).note
    assert _row(app, recent).review_note


def test_purging_twice_changes_nothing_more(app):
    old = _report(app, filed_days_ago=800, closed_days_ago=740)
    assert _purge(app) == 1
    first = _row(app, old)
    assert _purge(app) == 0
    assert _row(app, old) == first


def test_the_retention_is_a_parameter(app):
    month = _report(app, filed_days_ago=40, closed_days_ago=31)
    assert _purge(app) == 0  # the default keeps it two years
    assert _purge(app, keep_days=30) == 1
    assert _row(app, month).note == ""
    assert app.config["PUBLIC_REPORT_KEEP_DAYS"] == public_reports.KEEP_DAYS == 730


@pytest.mark.parametrize("bad", [-1, 1.5, "730", True])
def test_a_bad_retention_is_refused(app, bad):
    _report(app, filed_days_ago=800, closed_days_ago=740)
    with pytest.raises(Invalid):
        _purge(app, keep_days=bad)
