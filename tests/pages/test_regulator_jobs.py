"""The overview's "scheduled jobs" panel: each daily job's latest run, whether it is late,
what it found; and the rule and the query behind it (ledger.job_status).

Who may open the overview at all is tested in tests/security/test_isolation.py.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine

from app import jobs
from ledger import audit_requests
from ledger.job_status import (
    DAILY_JOBS,
    DUE_AFTER,
    NIGHTLY_HOURS,
    due_day,
    facts_of,
    is_overdue,
    latest_runs,
    local_day,
)  # fmt: skip
from ledger.model_ops import JobRun
from ledger.store import transaction

UTC = dt.UTC
SHANGHAI = ZoneInfo("Asia/Shanghai")  # the app's default LOCAL_TIMEZONE


def _at(day: str, hhmm: str, tz: dt.tzinfo = SHANGHAI) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=tz)


def _record(
    engine: Engine,
    job: str,
    period: str,
    detail: dict[str, Any] | str,
    *,
    ok: bool = True,
    finished: dt.datetime | None = None,
) -> None:
    done = finished or dt.datetime.now(UTC)
    text = detail if isinstance(detail, str) else json.dumps(detail, ensure_ascii=False)
    with transaction(engine) as s:
        s.add(JobRun(job=job, period=period, started_at=done, finished_at=done, ok=ok, detail=text))


def _today() -> str:  # the local day, as the scheduler records it
    return local_day(dt.datetime.now(UTC)).isoformat()


def _days_ago(n: int) -> str:
    return (local_day(dt.datetime.now(UTC)) - dt.timedelta(days=n)).isoformat()


def _engine(app: Any) -> Engine:
    engine: Engine = app.extensions["ledger"].engine
    return engine


def _row(html: str, job: str) -> str:
    found = re.search(rf'<tr id="job-{job}".*?</tr>', html, re.S)
    assert found, f"no row for {job}"
    return found.group(0)


STALE = {"days": 30, "count": 7, "by_owner": {"燃气甲": 7}, "oldest": []}
AUDIT_OK = {"ok": True, "detail": {"ok": True, "events": 42, "checkpoints": 3, "first_bad": None}}
AUDIT_BAD = {
    "ok": False,
    "detail": {"ok": False, "events": 42, "checkpoints": 3, "first_bad": "event e1: bad hash"},
}


# --- the rule: late or not -------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "now", "late"),
    [
        ("2026-11-23", "2026-11-23T00:01", False),  # today's run, just after midnight
        ("2026-11-23", "2026-11-23T23:59", False),
        ("2026-11-22", "2026-11-23T00:00", False),  # yesterday's: fine before 06:00
        ("2026-11-22", "2026-11-23T05:59", False),
        ("2026-11-22", "2026-11-23T06:00", True),  # today's is due by 06:00 (local)
        ("2026-11-22", "2026-11-23T23:59", True),
        ("2026-11-21", "2026-11-23T00:00", True),  # missed a whole day
        ("2026-11-30", "2026-12-01T05:00", False),  # across a month's end
        ("2026-12-31", "2027-01-01T06:00", True),  # and a year's
        ("2026-11-24", "2026-11-23T12:00", False),  # a clock ahead of ours: it ran
        (None, "2026-11-23T12:00", True),  # never ran
        ("not-a-day", "2026-11-23T12:00", True),  # no proof that it ran
    ],
)
def test_a_daily_job_is_late_once_its_day_is_due_without_a_run(
    period: str | None, now: str, late: bool
) -> None:
    assert is_overdue(period, dt.datetime.fromisoformat(now).replace(tzinfo=SHANGHAI)) is late


def test_the_due_day_is_a_local_day_whatever_the_clocks_zone() -> None:
    # 21:30 UTC on the 22nd is 05:30 on the 23rd in Shanghai: yesterday's run still counts.
    assert due_day(_at("2026-11-22", "21:30", UTC)) == dt.date(2026, 11, 22)
    assert not is_overdue("2026-11-22", _at("2026-11-22", "21:30", UTC))
    # 22:00 UTC is 06:00 in Shanghai: the 23rd's run is due now.
    assert is_overdue("2026-11-22", _at("2026-11-22", "22:00", UTC))
    # A naive time is UTC.
    assert due_day(dt.datetime(2026, 11, 22, 22, 0)) == dt.date(2026, 11, 23)
    # Another jurisdiction's clock: 06:00 in Urumqi is 00:00 UTC.
    assert due_day(_at("2026-11-23", "00:00", UTC), "Asia/Urumqi") == dt.date(2026, 11, 23)
    assert due_day(_at("2026-11-22", "23:59", UTC), "Asia/Urumqi") == dt.date(2026, 11, 22)


def test_a_run_is_recorded_for_the_local_day_it_ran_on() -> None:
    # 17:30 UTC on the 3rd is 01:30 on the 4th in Shanghai: the night of the 4th.
    assert local_day(_at("2026-12-03", "17:30", UTC)) == dt.date(2026, 12, 4)
    assert local_day(_at("2026-12-03", "15:59", UTC)) == dt.date(2026, 12, 3)


def test_every_daily_job_runs_at_night_and_is_due_after_its_last_try_before_dawn() -> None:
    assert set(NIGHTLY_HOURS) == set(DAILY_JOBS) == set(jobs.JOBS) & set(DAILY_JOBS)
    assert all(0 <= hour <= 4 for hour in NIGHTLY_HOURS.values())  # never the morning rush
    assert max(NIGHTLY_HOURS.values()) < DUE_AFTER / dt.timedelta(hours=1)


# --- reading a run's detail ------------------------------------------------------------


def test_each_jobs_detail_gives_its_summary() -> None:
    assert facts_of("stale_report", json.dumps(STALE)) == {"count": 7, "days": 30}
    assert facts_of("audit", json.dumps(AUDIT_BAD)) == {
        "ok": False, "events": 42, "checkpoints": 3, "first_bad": "event e1: bad hash",
    }  # fmt: skip
    key_error = {"ok": False, "detail": {"ok": False, "error": "retired/x.vkey: bad key"}}
    assert facts_of("audit", json.dumps(key_error))["first_bad"] == "retired/x.vkey: bad key"
    assert facts_of("partitions", '{"created": ["events_2027_01"]}') == {"created": 1}
    assert facts_of("partitions", '{"ok": false, "error": "rows in DEFAULT"}') == {
        "error": "rows in DEFAULT"
    }
    assert facts_of("purge_reports", '{"keep_days": 730, "purged": 2}') == {
        "purged": 2, "keep_days": 730,
    }  # fmt: skip
    assert facts_of("purge_deliveries", '{"deleted": 3, "keep_days": 90}') == {
        "deleted": 3, "keep_days": 90,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("job", "detail"),
    [
        ("stale_report", "not json{"),
        ("stale_report", ""),
        ("stale_report", "[1, 2]"),
        ("stale_report", '{"days": 30}'),  # no count
        ("stale_report", '{"days": 30, "count": "many"}'),
        ("stale_report", '{"days": 30, "count": true}'),
        ("stale_report", '{"days": 30, "count": -1}'),
        ("audit", '{"ok": true}'),  # no verdict
        ("audit", '{"ok": true, "detail": {"ok": "yes"}}'),
        ("audit", '{"ok": false, "detail": {"ok": false, "first_bad": 12}}'),
        ("partitions", '{"created": 3}'),
        ("purge_reports", "null"),
        ("purge_deliveries", '{"deleted": -1, "keep_days": 90}'),
        ("purge_deliveries", '{"purged": 1, "keep_days": 90}'),  # another job's shape
        ("stale_report", "[" * 100_000),  # deeper than the parser goes
        ("some_new_job", "{}"),  # a job this module does not know
    ],
)
def test_a_detail_of_an_unknown_shape_is_unreadable_not_an_error(job: str, detail: str) -> None:
    assert facts_of(job, detail) is None


def test_a_long_first_problem_is_cut_to_one_line() -> None:
    long = {"ok": False, "detail": {"ok": False, "first_bad": "bad\n" + "x" * 1000}}
    bad = facts_of("audit", json.dumps(long))["first_bad"]
    assert "\n" not in bad and len(bad) <= 200 and bad.endswith("…")


# --- the query, on real rows -----------------------------------------------------------


def test_the_latest_run_of_each_daily_job_is_by_day_and_requests_are_not_runs(
    engine: Engine,
) -> None:
    # An older day recorded last (a late catch-up) does not hide the newer day.
    _record(
        engine,
        "stale_report",
        "2026-11-22",
        {**STALE, "count": 2},
        finished=_at("2026-11-22", "01:00"),
    )
    _record(engine, "stale_report", "2026-11-23", STALE, finished=_at("2026-11-23", "01:05"))
    _record(
        engine,
        "stale_report",
        "2026-11-21",
        {**STALE, "count": 9},
        finished=_at("2026-11-23", "03:00"),
    )
    _record(engine, "audit", "2026-11-23", AUDIT_BAD, ok=False, finished=_at("2026-11-23", "02:10"))
    with transaction(engine) as s:  # a regulator's request, and the scheduler's answer
        asked = _at("2026-11-23", "08:00")
        assert audit_requests.request(s, "regulator", asked)
        request = audit_requests.pending(s)
        assert request is not None
        audit_requests.mark_done(s, request, True, AUDIT_OK["detail"], asked)

    with transaction(engine, write=False) as s:
        runs = latest_runs(s, _at("2026-11-23", "12:00"))

    assert [r.job for r in runs] == list(DAILY_JOBS)  # the requests are not listed
    by_job = {r.job: r for r in runs}
    stale = by_job["stale_report"]
    assert (stale.period, stale.ok, stale.overdue) == ("2026-11-23", True, False)
    assert stale.facts == {"count": 7, "days": 30}
    assert stale.finished_at == _at("2026-11-23", "01:05")
    audit = by_job["audit"]  # the nightly one, not the requested audit that passed
    assert (audit.period, audit.ok, audit.overdue) == ("2026-11-23", False, False)
    assert audit.facts is not None and audit.facts["first_bad"] == "event e1: bad hash"
    never = by_job["purge_reports"]
    assert (never.ran, never.period, never.ok, never.overdue) == (False, None, None, True)


# --- the page --------------------------------------------------------------------------


def test_a_regulator_sees_what_the_latest_stale_report_found_and_the_live_list(
    app: Any, as_person: Any
) -> None:
    _record(_engine(app), "stale_report", _days_ago(3), {**STALE, "count": 99})
    _record(_engine(app), "stale_report", _today(), STALE, finished=_at("2026-12-03", "17:30", UTC))
    html = as_person("regulator").get("/regulator/").get_data(as_text=True)
    assert "定时任务" in html and 'id="jobs-none"' not in html
    row = _row(html, "stale_report")
    assert "7 个气瓶 30 天未见" in row and "99" not in row
    assert 'href="/regulator/cylinders/stale?days=30"' in row
    assert _today() in row and "✓ 成功" in row and "未按时运行" not in row
    assert "2026-12-04 01:30" in row  # finished 17:30 UTC: shown in Beijing time
    assert "从未运行" in _row(html, "purge_reports")  # the others have not run


def test_a_failed_audit_is_marked_failed_in_words(app: Any, as_person: Any) -> None:
    _record(_engine(app), "audit", _today(), AUDIT_BAD, ok=False)
    row = _row(as_person("regulator").get("/regulator/").get_data(as_text=True), "audit")
    assert 'data-ok="no"' in row and "✗ 失败" in row and "成功" not in row
    assert "审计未通过：event e1: bad hash" in row


def test_a_passed_audit_shows_its_verdict(app: Any, as_person: Any) -> None:
    _record(_engine(app), "audit", _today(), AUDIT_OK)
    row = _row(as_person("regulator").get("/regulator/").get_data(as_text=True), "audit")
    assert "✓ 成功" in row and "通过：42 个事件，3 个检查点" in row and "失败" not in row


def test_a_job_that_did_not_run_for_days_is_marked_overdue(app: Any, as_person: Any) -> None:
    _record(_engine(app), "audit", _days_ago(4), AUDIT_OK)
    _record(_engine(app), "stale_report", _today(), STALE)
    html = as_person("regulator").get("/regulator/").get_data(as_text=True)
    late = _row(html, "audit")
    assert 'data-overdue="yes"' in late and "⚠ 未按时运行" in late and _days_ago(4) in late
    assert "未按时运行" not in _row(html, "stale_report")


def test_with_no_runs_the_panel_says_so_plainly(app: Any, as_person: Any) -> None:
    regulator = as_person("regulator")
    with transaction(_engine(app)) as s:
        assert audit_requests.request(s, "regulator", dt.datetime.now(UTC))
    html = regulator.get("/regulator/").get_data(as_text=True)
    assert 'id="jobs-none"' in html and "尚无运行记录——调度进程是否在运行？" in html
    assert 'id="job-audit"' not in html  # a request is not a run
    english = regulator.get("/regulator/?lang=en").get_data(as_text=True)
    assert "No runs recorded yet — is the scheduler running?" in english


def test_a_malformed_detail_is_shown_unreadable_not_a_500(app: Any, as_person: Any) -> None:
    _record(_engine(app), "stale_report", _today(), "not json{")
    _record(_engine(app), "audit", _today(), '{"ok": true, "detail": "<script>x</script>"}')
    _record(_engine(app), "partitions", "yesterday?", "{}")
    resp = as_person("regulator").get("/regulator/")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "详情无法读取" in _row(html, "stale_report") and "详情无法读取" in _row(html, "audit")
    assert "<script>x" not in html
    assert "未按时运行" in _row(html, "partitions")  # a period that is not a day


def test_the_panel_in_english(app: Any, as_person: Any) -> None:
    _record(_engine(app), "stale_report", _today(), STALE)
    html = as_person("regulator").get("/regulator/?lang=en").get_data(as_text=True)
    assert "Scheduled jobs" in html
    assert "7 cylinders not seen for 30 days" in _row(html, "stale_report")


def test_the_real_jobs_runs_show_up_readable_and_on_time(app: Any, as_person: Any) -> None:
    for name in DAILY_JOBS:  # each daily job as the scheduler runs it
        assert jobs.JOBS[name](app)["status"] == "done", name
    html = as_person("regulator").get("/regulator/").get_data(as_text=True)
    for name in DAILY_JOBS:
        row = _row(html, name)
        assert "✓ 成功" in row and "详情无法读取" not in row, row
        assert "未按时运行" not in row and _today() in row
    assert "个气瓶 90 天未见" in _row(html, "stale_report")
    assert "cylinders/stale?days=90" in _row(html, "stale_report")
    assert re.search(r"通过：\d+ 个事件", _row(html, "audit"))
    assert "保留 730 天" in _row(html, "purge_reports")
    assert "webhook 推送记录（保留 90 天）" in _row(html, "purge_deliveries")
    assert "新建月分区" in _row(html, "partitions")


@pytest.mark.parametrize(
    ("zone", "period"), [("Asia/Shanghai", "2026-12-04"), ("UTC", "2026-12-03")]
)
def test_a_daily_job_records_the_day_of_the_jurisdictions_clock(
    app: Any, monkeypatch: pytest.MonkeyPatch, zone: str, period: str
) -> None:
    # 17:30 UTC on the 3rd: the night of the 4th in Shanghai, still the 3rd in UTC.
    rt = app.extensions["ledger"]
    monkeypatch.setattr(type(rt), "now", lambda _self: _at("2026-12-03", "17:30", UTC))
    monkeypatch.setitem(app.config, "LOCAL_TIMEZONE", zone)
    assert jobs.stale_report(app)["period"] == period
    assert jobs.stale_report(app)["already"] is True  # once that day
    with transaction(_engine(app), write=False) as s:
        (run,) = latest_runs(s, _at("2026-12-03", "18:00", UTC), zone, ["stale_report"])
    assert (run.period, run.overdue) == (period, False)


def test_a_time_zone_the_system_does_not_know_stops_the_start_with_a_clear_message() -> None:
    from app.config import check_timezone

    check_timezone("Asia/Shanghai")
    for bad in ("Mars/Olympus", "", "../etc/passwd"):
        with pytest.raises(RuntimeError, match="LEDGER_TIMEZONE"):
            check_timezone(bad)
