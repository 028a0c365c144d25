"""The scheduler's jobs: idempotent, locked per job, clear about a database that is away."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from app import jobs
from ledger import notifications
from ledger.model_ops import JobRun, Notification
from ledger.model_rules import CylinderStateRow
from ledger.store import make_engine
from tests.flows import local_today


def _rt(app: Any) -> Any:
    return app.extensions["ledger"]


def _count(app: Any, table: Any) -> int:
    with Session(_rt(app).engine) as s:
        return int(s.execute(select(func.count()).select_from(table)).scalar_one())


def _make_overdue(app: Any, n: int = 1) -> list[str]:
    """Move the inspection date of ``n`` cylinders in use to yesterday."""
    try:
        return _overdue(app, n)
    except Exception:  # the pool's connection was dropped by the server: one retry
        return _overdue(app, n)


def _overdue(app: Any, n: int) -> list[str]:
    yesterday = local_today() - dt.timedelta(days=1)
    with Session(_rt(app).engine) as s:
        ids = list(
            s.execute(
                select(CylinderStateRow.cylinder_id)
                .where(CylinderStateRow.status != "scrapped")
                .order_by(CylinderStateRow.cylinder_id)
                .limit(n)
            ).scalars()
        )
        s.execute(
            update(CylinderStateRow)
            .where(CylinderStateRow.cylinder_id.in_(ids))  # type: ignore[attr-defined]
            .values(next_inspection_due=yesterday)
        )
        s.commit()
    return ids


def test_expiry_sweep_notifies_each_owner_once(app: Any) -> None:
    ids = _make_overdue(app, 2)
    before = _count(app, Notification)
    first = jobs.expiry_sweep(app)
    assert first["status"] == "done"
    assert first["overdue"] >= 2
    second = jobs.expiry_sweep(app)
    assert second["status"] == "done" and second["overdue"] == 0 and second["end_of_life"] == 0
    assert _count(app, Notification) == before + first["overdue"] + first["end_of_life"]
    with Session(_rt(app).engine) as s:
        rows = s.execute(
            select(Notification).where(Notification.cylinder_id.in_(ids))  # type: ignore[attr-defined]
        ).scalars()
        made = {(n.cylinder_id, n.kind): n for n in rows}
    for cid in ids:
        note = made[(cid, "overdue")]
        assert note.message.startswith("钢瓶 ") and "overdue" in note.message
        assert note.enterprise_id > 0 and note.delivered_at is None


def test_webhook_delivery_retries_until_accepted_and_never_resends(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _make_overdue(app, 1)
    app.config["NOTIFY_WEBHOOK_URL"] = "http://127.0.0.1:9/hook"
    answers = iter([503])
    sent: list[dict[str, Any]] = []

    def post(url: str, body: dict[str, Any], headers: dict[str, str]) -> int:
        sent.append(body)
        assert headers["Idempotency-Key"] == f"notification-{body['id']}"
        return next(answers, 204)

    monkeypatch.setattr(jobs, "_post", post)
    first = jobs.expiry_sweep(app)
    total = first["overdue"] + first["end_of_life"]
    assert first["delivery_failed"] == 1 and first["delivered"] == total - 1
    second = jobs.expiry_sweep(app)
    assert second["delivered"] == 1 and second["delivery_failed"] == 0
    third = jobs.expiry_sweep(app)
    assert third["delivered"] == 0 and len(sent) == total + 1
    with Session(_rt(app).engine) as s:
        pending = s.execute(
            select(func.count())
            .select_from(Notification)
            .where(
                Notification.delivered_at.is_(None)  # type: ignore[union-attr]
            )
        ).scalar_one()
    assert pending == 0


def test_webhook_unreachable_is_kept_for_later(app: Any) -> None:
    _make_overdue(app, 1)
    app.config["NOTIFY_WEBHOOK_URL"] = "http://127.0.0.1:9/hook"  # discard port: refused
    result = jobs.expiry_sweep(app)
    assert result["status"] == "done" and result["delivered"] == 0
    assert result["delivery_failed"] >= 1
    with Session(_rt(app).engine) as s:
        note = s.execute(select(Notification).limit(1)).scalar_one()
    assert note.delivered_at is None and note.attempts == 1 and note.last_error


def test_daily_jobs_run_once_a_day(app: Any) -> None:
    stale = jobs.stale_report(app)
    assert stale["status"] == "done" and stale["already"] is False
    assert jobs.stale_report(app)["already"] is True
    audit = jobs.nightly_audit(app)
    assert audit["status"] == "done" and audit["ok"] is True and audit["already"] is False
    assert jobs.nightly_audit(app)["already"] is True
    assert _count(app, JobRun) == 2
    verdict = json.loads((Path(app.instance_path) / "last_audit.json").read_text())
    assert verdict["ok"] is True and verdict["events"] > 0
    with Session(_rt(app).engine) as s:
        row = s.execute(select(JobRun).where(JobRun.job == "stale_report")).scalar_one()
    assert json.loads(row.detail)["days"] == 90


def test_integrate_job_checkpoints_and_is_idempotent(app: Any, client: Any) -> None:
    first = jobs.integrate_and_checkpoint(app)
    assert first["status"] == "done" and first["checkpoint_size"] == first["tree_size"]
    again = jobs.integrate_and_checkpoint(app)
    assert again["integrated"] == 0 and again["checkpoint_size"] == first["tree_size"]
    with Session(_rt(app).engine) as s:
        sizes = s.execute(text("SELECT size FROM checkpoints ORDER BY id")).scalars().all()
    assert sizes.count(first["tree_size"]) == 1


def test_two_schedulers_at_once_write_each_notification_once(app: Any) -> None:
    _make_overdue(app, 3)
    barrier = threading.Barrier(2)
    results: list[dict[str, Any]] = []

    def scheduler() -> None:
        barrier.wait()
        results.append(jobs.expiry_sweep(app))

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {r["status"] for r in results} <= {"done", "busy"}
    made = sum(r.get("overdue", 0) + r.get("end_of_life", 0) for r in results)
    assert made == _count(app, Notification) >= 3


def test_a_job_whose_database_is_away_says_so_and_changes_nothing(tmp_path: Path) -> None:
    from app import create_app

    missing = tmp_path / "no-such-dir" / "ledger.sqlite3"
    application = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": f"sqlite:///{missing}",
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "KEYS_DIR": str(tmp_path / "keys"),
        }
    )
    for job in jobs.JOBS.values():
        result = job(application)
        assert result["status"] == "error" and "no such database file" in result["error"]
    assert not missing.exists()
    application.extensions["ledger"].engine.dispose()


def _pg_only(app: Any) -> None:
    if _rt(app).engine.dialect.name != "postgresql":
        pytest.skip("advisory locks and server restarts are PostgreSQL's")


def test_a_job_another_scheduler_holds_is_skipped(app: Any) -> None:
    _pg_only(app)
    _make_overdue(app, 1)
    with Session(_rt(app).engine) as other:
        other.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':' || :n))"),
            {"n": "job:expiry_sweep"},
        )
        assert jobs.expiry_sweep(app) == {"job": "expiry_sweep", "status": "busy"}
        assert _count(app, Notification) == 0
    assert jobs.expiry_sweep(app)["overdue"] >= 1


def test_a_connection_lost_mid_life_fails_one_run_then_recovers(app: Any, db_url: str) -> None:
    _pg_only(app)
    _make_overdue(app, 1)
    assert jobs.expiry_sweep(app)["status"] == "done"
    # The server drops the pool's connection (a restart, a failover) while the job sleeps.
    engine = _rt(app).engine
    with engine.connect() as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    admin = make_engine(db_url)
    with admin.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
    admin.dispose()
    _make_overdue(app, 2)  # may meet the dead connection itself
    results = [jobs.expiry_sweep(app) for _ in range(3)]
    statuses = [r["status"] for r in results]
    assert set(statuses) <= {"done", "error"} and statuses[-1] == "done"
    made = sum(r.get("overdue", 0) for r in results)
    assert made >= 1 and _count(app, Notification) == made + 1


def test_jobs_once_prints_the_result_and_exits_by_it(app: Any, runner: Any) -> None:
    done = runner.invoke(args=["jobs", "once", "stale_report"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output.strip().splitlines()[-1])["status"] == "done"
    again = runner.invoke(args=["jobs", "once", "stale_report"])
    assert json.loads(again.output.strip().splitlines()[-1])["already"] is True
    assert runner.invoke(args=["jobs", "once", "no_such_job"]).exit_code == 2


def test_each_notification_is_posted_committed_and_with_no_write_lock_held(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A POST waits for the webhook with nothing of the ledger locked, and only for a
    notification whose id is final (committed): a retry is always under the same key."""
    _make_overdue(app, 2)
    app.config["NOTIFY_WEBHOOK_URL"] = "http://127.0.0.1:9/hook"
    engine = _rt(app).engine
    other = make_engine(engine.url.render_as_string(hide_password=False))
    seen: list[tuple[bool, bool]] = []

    def post(url: str, body: dict[str, Any], headers: dict[str, str]) -> int:
        with Session(other) as s:  # another connection sees it: committed
            committed = s.get(Notification, body["id"]) is not None
        writable = True
        if engine.dialect.name == "sqlite":  # the one write lock is free for the web
            raw = sqlite3.connect(engine.url.database, timeout=0.2)
            try:
                raw.execute("BEGIN IMMEDIATE")
                raw.rollback()
            except sqlite3.OperationalError:
                writable = False
            finally:
                raw.close()
        seen.append((committed, writable))
        return 204

    monkeypatch.setattr(jobs, "_post", post)
    result = jobs.expiry_sweep(app)
    other.dispose()
    assert result["delivery_status"] == "done" and result["delivered"] >= 2
    assert seen and set(seen) == {(True, True)}


def test_an_outcome_lost_after_the_post_is_sent_again_under_the_same_key(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _make_overdue(app, 1)
    app.config["NOTIFY_WEBHOOK_URL"] = "http://127.0.0.1:9/hook"
    keys: list[str] = []

    def post(url: str, body: dict[str, Any], headers: dict[str, str]) -> int:
        keys.append(headers["Idempotency-Key"])
        return 204

    monkeypatch.setattr(jobs, "_post", post)
    real = notifications.transaction
    calls = 0

    def lost_once(engine: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:  # the first outcome's transaction: the database went away
            raise OperationalError("UPDATE notifications", {}, Exception("server closed"))
        return real(engine, *args, **kwargs)

    monkeypatch.setattr(notifications, "transaction", lost_once)
    first = jobs.expiry_sweep(app)
    assert first["delivery_status"] == "error"
    monkeypatch.setattr(notifications, "transaction", real)
    second = jobs.expiry_sweep(app)
    assert second["delivery_status"] == "done" and second["delivery_failed"] == 0
    assert keys[0] == keys[1]  # the same notification, the same key: the receiver drops it
    assert len(keys) == len(set(keys)) + 1


def test_a_delivery_is_given_up_after_max_attempts_and_said_so(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _make_overdue(app, 1)
    app.config["NOTIFY_WEBHOOK_URL"] = "http://127.0.0.1:9/hook"
    monkeypatch.setattr(notifications, "MAX_ATTEMPTS", 2)
    sent: list[int] = []

    def post(url: str, body: dict[str, Any], headers: dict[str, str]) -> int:
        sent.append(body["id"])
        return 500

    monkeypatch.setattr(jobs, "_post", post)
    first = jobs.expiry_sweep(app)
    total = first["overdue"] + first["end_of_life"]
    assert first["delivery_failed"] == total and first["delivery_given_up"] == 0
    second = jobs.expiry_sweep(app)
    assert second["delivery_failed"] == total and second["delivery_given_up"] == total
    third = jobs.expiry_sweep(app)
    assert third["delivered"] == third["delivery_failed"] == 0 and len(sent) == 2 * total
    with Session(_rt(app).engine) as s:
        notes = s.execute(select(Notification)).scalars().all()
    assert {(n.attempts, n.last_error, n.delivered_at) for n in notes} == {(2, "HTTP 500", None)}


def test_a_nightly_audit_that_cannot_write_its_verdict_is_an_error_and_runs_again(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app import audits

    real = audits.run_and_keep

    def disk_full(rt: Any, instance_path: str) -> Any:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(audits, "run_and_keep", disk_full)
    failed = jobs.nightly_audit(app)
    assert failed["status"] == "error" and "No space left" in failed["error"]
    assert _count(app, JobRun) == 0  # not recorded as run: the next hour tries again
    monkeypatch.setattr(audits, "run_and_keep", real)
    again = jobs.nightly_audit(app)
    assert again["status"] == "done" and again["already"] is False and again["ok"] is True


def test_a_nightly_audit_that_stops_keeps_not_verified_not_last_nights_ok(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app import audits

    assert jobs.nightly_audit(app)["ok"] is True
    assert audits.last_verdict(app.instance_path)["ok"] is True

    def unreadable(*args: Any, **kwargs: Any) -> Any:
        raise TypeError("'<=' not supported between instances of 'int' and 'str'")

    monkeypatch.setattr(audits, "audit", unreadable)
    with pytest.raises(TypeError):
        audits.run_and_keep(_rt(app), app.instance_path)
    kept = audits.last_verdict(app.instance_path)
    assert kept is not None and kept["ok"] is False and kept["ledger_ok"] is False
    assert kept["first_bad"].startswith("审计未能完成 the audit stopped: TypeError: '<='")
