"""The nightly housekeeping jobs: monthly partitions ahead, public reports past retention, and
the audit that checks the state projection too. Each runs once a day and under its lock."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session

from app import jobs
from ledger import partitions
from ledger.model_ops import JobRun
from ledger.model_people import PublicReport
from ledger.model_rules import CylinderStateRow
from ledger.store import transaction


def _rt(app: Any) -> Any:
    return app.extensions["ledger"]


def _report(app: Any, *, closed_days_ago: int | None, note: str) -> int:
    now = dt.datetime.now(dt.UTC)
    row = PublicReport(
        form_token=uuid.uuid4().hex, code="GZ0000000001", kind="suspected_fake", note=note,
        ip_hash="ab" * 32, status="open" if closed_days_ago is None else "reviewed",
        created_at=now - dt.timedelta(days=(closed_days_ago or 0) + 3),
        reviewed_at=None if closed_days_ago is None else now - dt.timedelta(days=closed_days_ago),
        review_note=None if closed_days_ago is None else "查实 / confirmed",
    )  # fmt: skip
    with transaction(_rt(app).engine) as s:
        s.add(row)
        s.flush()
        assert row.id is not None
        return row.id


def _reports(app: Any) -> dict[int, PublicReport]:
    with Session(_rt(app).engine) as s:
        return {r.id: r for r in s.execute(select(PublicReport)).scalars()}  # type: ignore[misc]


def test_purge_job_blanks_reports_closed_past_retention_once_a_day(app: Any) -> None:
    app.config["PUBLIC_REPORT_KEEP_DAYS"] = 730
    old = _report(app, closed_days_ago=800, note="阀门漏气 138 0000 0000")
    recent = _report(app, closed_days_ago=10, note="标签破损")
    still_open = _report(app, closed_days_ago=None, note="三年前就报过")
    first = jobs.purge_reports(app)
    assert first["status"] == "done" and first["already"] is False and first["ok"] is True
    rows = _reports(app)
    assert (rows[old].note, rows[old].ip_hash, rows[old].review_note) == ("", "", None)
    assert rows[old].status == "reviewed" and rows[old].code == "GZ0000000001"
    assert rows[recent].note == "标签破损" and rows[recent].review_note
    assert rows[still_open].note == "三年前就报过" and rows[still_open].ip_hash
    assert jobs.purge_reports(app)["already"] is True
    with Session(_rt(app).engine) as s:
        run = s.execute(select(JobRun).where(JobRun.job == "purge_reports")).scalar_one()
    assert json.loads(run.detail) == {"keep_days": 730, "purged": 1}


def test_partition_job_creates_the_months_ahead_on_postgresql_only(app: Any) -> None:
    engine = _rt(app).engine
    if engine.dialect.name != "postgresql":
        assert jobs.partition_maintenance(app)["status"] == "done"
        with Session(engine) as s:
            run = s.execute(select(JobRun).where(JobRun.job == "partitions")).scalar_one()
        assert json.loads(run.detail) == {"created": []}
        return
    furthest = partitions.add_months(partitions.month_start(dt.datetime.now(dt.UTC)), 3)
    name = partitions.partition_name(furthest)
    with engine.begin() as conn:  # the furthest month is empty: take it away
        if name in {p.name for p in partitions.list_partitions(conn)}:
            conn.exec_driver_sql(f"DROP TABLE {name}")
    result = jobs.partition_maintenance(app)
    assert result["status"] == "done" and result["ok"] is True
    with engine.connect() as conn:
        assert name in {p.name for p in partitions.list_partitions(conn)}
    with Session(engine) as s:
        run = s.execute(select(JobRun).where(JobRun.job == "partitions")).scalar_one()
    assert name in json.loads(run.detail)["created"]
    assert jobs.partition_maintenance(app)["already"] is True


def test_nightly_audit_reports_a_projection_that_drifted_from_the_events(app: Any) -> None:
    with transaction(_rt(app).engine) as s:
        victim = s.execute(select(CylinderStateRow.cylinder_id).limit(1)).scalar_one()
        s.execute(
            update(CylinderStateRow)
            .where(CylinderStateRow.cylinder_id == victim)  # type: ignore[arg-type]
            .values(status="scrapped")
        )
    result = jobs.nightly_audit(app)
    assert result["status"] == "done" and result["ok"] is False
    verdict = json.loads((Path(app.instance_path) / "last_audit.json").read_text())
    assert verdict["ledger_ok"] is True and verdict["projection_checked"] is True
    assert verdict["projection_findings"] == 1 and victim in verdict["first_bad"]


def test_every_job_the_cli_offers_is_a_job(app: Any, runner: Any) -> None:
    from app.jobs_cli import JOB_NAMES

    assert set(JOB_NAMES) == set(jobs.JOBS)
    out = runner.invoke(args=["jobs", "once", "purge_reports"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output.strip().splitlines()[-1])["job"] == "purge_reports"
