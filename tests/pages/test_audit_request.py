"""The regulator's audit button: on a small ledger it audits in the request; on a larger
one it asks the scheduler, which runs the audit in the background once, and the overview
shows the request until the verdict replaces it."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from app import jobs
from tests.pages.conftest import csrf_of


def _press(regulator: Any) -> str:
    csrf = csrf_of(regulator.get("/regulator/").get_data(as_text=True))
    resp = regulator.post("/regulator/audit", data={"csrf_token": csrf}, follow_redirects=True)
    assert resp.status_code == 200
    return str(resp.get_data(as_text=True))


def _verdict(app: Any) -> Any:
    path = Path(app.instance_path) / "last_audit.json"
    return json.loads(path.read_text()) if path.exists() else None


def test_a_large_ledger_is_audited_by_the_scheduler_once(
    app: Any, as_person: Any, client: Any, demo: Any
) -> None:
    app.config["AUDIT_IN_REQUEST_MAX_EVENTS"] = 0  # every ledger is "large"
    regulator = as_person("regulator")
    html = _press(regulator)
    assert "已请求审计" in html and "等待调度进程运行" in html
    assert _verdict(app) is None  # nothing ran in the request
    assert "已有一次审计请求" in _press(regulator)  # pressed again: still one request

    ran = jobs.requested_audit(app)
    assert ran["status"] == "done" and ran["requested"] is True and ran["ok"] is True
    verdict = _verdict(app)
    assert verdict["ok"] is True and verdict["projection_checked"] is True
    assert verdict["events"] > 0
    html = regulator.get("/regulator/").get_data(as_text=True)
    assert 'id="audit-asked"' not in html and "通过" in html
    at = dt.datetime.fromisoformat(verdict["at"]).astimezone(ZoneInfo("Asia/Shanghai"))
    shown = re.search(r'id="last-audit">([^<]*)<', html).group(1)  # type: ignore[union-attr]
    assert shown.endswith(f"{at:%Y-%m-%d %H:%M}") and "UTC" not in shown  # the city's time

    assert jobs.requested_audit(app)["requested"] is False  # run once, not again


def test_a_small_ledger_is_audited_in_the_request(app: Any, as_person: Any) -> None:
    html = _press(as_person("regulator"))
    assert "审计通过" in html or "Audit passed" in html
    verdict = _verdict(app)
    assert verdict["ok"] is True and verdict["projection_checked"] is True
    assert jobs.requested_audit(app)["requested"] is False


def test_an_audit_that_fails_outside_the_database_is_recorded_not_retried_forever(
    app: Any, as_person: Any, monkeypatch: Any
) -> None:
    app.config["AUDIT_IN_REQUEST_MAX_EVENTS"] = 0
    _press(as_person("regulator"))

    def broken(*_a: Any) -> Any:
        raise OSError("instance folder is read-only")

    monkeypatch.setattr(jobs.audits, "run_and_keep", broken)
    ran = jobs.requested_audit(app)
    assert ran["status"] == "done" and ran["requested"] is True and ran["ok"] is False
    assert jobs.requested_audit(app)["requested"] is False  # not run again every 15 s


def test_an_audit_that_stops_in_the_request_is_shown_failed_not_a_500(
    app: Any, as_person: Any, client: Any, demo: Any, monkeypatch: Any
) -> None:
    from app import audits

    def unreadable(*args: Any, **kwargs: Any) -> Any:
        raise TypeError("'<=' not supported between instances of 'int' and 'str'")

    monkeypatch.setattr(audits, "audit", unreadable)
    html = _press(as_person("regulator"))  # 200 after the redirect
    assert "审计未能完成 the audit stopped: TypeError" in html
    assert _verdict(app)["ok"] is False
