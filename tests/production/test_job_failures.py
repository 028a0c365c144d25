"""The scheduler's jobs when something fails under them: a commit that does not happen, a
full disk inside integration, a bad key file, a server that ends idle transactions, a
webhook that refuses or does not answer, a verdict that cannot be written, a sweep that
fails. Each fails alone, clearly, and the next run does what is left, once."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from app import audits, job_guard, jobs
from ledger import audit_requests, checkpoint_memory, notifications, sweeps
from ledger.keys import SERVER_KEY_FILE
from ledger.model import Cylinder
from ledger.model_ops import Notification
from ledger.store import transaction
from tests import flows


def _rt(app: Any) -> Any:
    return app.extensions["ledger"]


def _pg_only(app: Any) -> None:
    if _rt(app).engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's own errors and settings")


def test_a_checkpoint_whose_commit_failed_is_not_remembered_as_signed(
    app: Any, client: Any, demo: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = _rt(app)
    rt.integrate_after_write = False  # the scheduler integrates, in the job's transaction
    assert jobs.integrate_and_checkpoint(app)["status"] == "done"
    memory = rt.keys_dir / checkpoint_memory.FILE_NAME
    before = checkpoint_memory.remembered(memory)
    assert before is not None
    flows.register(client, demo)

    @contextmanager
    def commit_fails(engine: Any, *, write: bool = True) -> Iterator[Session]:
        with Session(engine) as session:
            yield session
            session.rollback()  # the COMMIT never reached the database
            raise OperationalError("COMMIT", {}, sqlite3.OperationalError("connection lost"))

    monkeypatch.setattr(job_guard, "transaction", commit_fails)
    failed = jobs.integrate_and_checkpoint(app)
    monkeypatch.undo()
    assert failed["status"] == "error"
    assert checkpoint_memory.remembered(memory) == before  # nothing signed was published
    assert audits.run_and_keep(rt, app.instance_path)["ok"] is True
    again = jobs.integrate_and_checkpoint(app)
    assert again["status"] == "done" and again["checkpoint_size"] == before.size + 1
    assert checkpoint_memory.remembered(memory).size == before.size + 1  # type: ignore[union-attr]


def test_a_full_disk_while_integrating_on_postgresql_is_a_database_error(
    app: Any, client: Any, demo: Any, runner: Any
) -> None:
    """The leaves are written by COPY on the raw connection, past SQLAlchemy: its error is
    still the job's "error, will retry" and the command's one line, never a traceback."""
    _pg_only(app)
    rt = _rt(app)
    rt.integrate_after_write = False
    flows.register(client, demo)
    with rt.engine.begin() as conn:  # the server's answer when it cannot extend a file
        conn.execute(
            text(
                "CREATE FUNCTION disk_is_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "RAISE EXCEPTION 'could not extend file: No space left on device' "
                "USING ERRCODE = 'disk_full'; END $$"
            )
        )
        conn.execute(
            text(
                "CREATE TRIGGER disk_is_full BEFORE INSERT ON log_leaves "
                "FOR EACH ROW EXECUTE FUNCTION disk_is_full()"
            )
        )
    result = jobs.integrate_and_checkpoint(app)
    assert result["status"] == "error" and "No space left on device" in result["error"]
    cli = runner.invoke(args=["jobs", "once", "integrate"])
    assert cli.exit_code == 1 and "No space left on device" in cli.output
    assert "Traceback" not in cli.output
    with rt.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER disk_is_full ON log_leaves"))
    assert jobs.integrate_and_checkpoint(app)["integrated"] == 1  # the space is back


def test_a_bad_key_file_is_one_line_from_every_command(app: Any, runner: Any) -> None:
    (_rt(app).keys_dir / SERVER_KEY_FILE).write_text("garbage\n")
    result = runner.invoke(args=["jobs", "once", "integrate"])
    assert result.exit_code == 1, result.output
    assert "密钥文件有误" in result.output and SERVER_KEY_FILE in result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)


def test_a_long_jobs_lock_outlives_a_server_that_ends_idle_transactions(
    app: Any, db_url: str
) -> None:
    """The lock of a long job (the audit) sits on a connection idle while the job works on
    others: a server's idle_in_transaction_session_timeout must not end it mid-job."""
    _pg_only(app)
    engine = _rt(app).engine
    with engine.connect() as conn:
        database = conn.exec_driver_sql("SELECT current_database()").scalar()
        conn.execute(
            text(f"ALTER DATABASE {database} SET idle_in_transaction_session_timeout = '1s'")
        )
        conn.commit()
    engine.dispose()  # new connections take the setting
    started, second_tried = threading.Event(), threading.Event()

    def long_job(_rt: Any, _session: Any) -> dict[str, Any]:
        started.set()
        assert second_tried.wait(60)  # works until the second scheduler has tried
        return {"ran": True}

    first: dict[str, Any] = {}
    worker = threading.Thread(
        target=lambda: first.update(job_guard.guarded(app, "audit", long_job, write=False))
    )
    worker.start()
    assert started.wait(10)
    time.sleep(1.5)  # past the server's timeout (a lower bound: later is as good)
    try:
        second = job_guard.guarded(app, "audit", lambda _r, _s: {"ran": True}, write=False)
    finally:
        second_tried.set()
        worker.join()
    assert second == {"job": "audit", "status": "busy"}
    assert first["status"] == "done" and first["ran"] is True


def _notifications(app: Any, n: int) -> list[int]:
    with Session(_rt(app).engine) as s:
        cylinder = s.execute(select(Cylinder).order_by(Cylinder.id)).scalars().first()
        assert cylinder is not None and cylinder.id is not None
        for i in range(n):
            s.add(
                Notification(
                    enterprise_id=cylinder.owner_id,
                    cylinder_id=cylinder.id,
                    code=cylinder.code,
                    kind="overdue",
                    due_on=dt.date(2020, 1, 1) + dt.timedelta(days=i),
                    message="m",
                    created_at=dt.datetime.now(dt.UTC),
                )
            )
        s.commit()
        return list(s.execute(select(Notification.id).order_by(Notification.id)).scalars())


def test_notifications_the_city_webhook_refuses_do_not_hold_up_the_rest(app: Any) -> None:
    ids = _notifications(app, 7)
    refused, posted = set(ids[:5]), []

    def post(url: str, body: dict[str, Any], headers: dict[str, str]) -> int:
        posted.append(body["id"])
        return 422 if body["id"] in refused else 204

    now = dt.datetime.now(dt.UTC)
    run = notifications.deliver(_rt(app).engine, "https://city.example/hook", post, now, batch=2)
    assert run.delivered == 2 and run.failed == 5 and posted == ids  # batch after batch, once
    posted.clear()
    again = notifications.deliver(_rt(app).engine, "https://city.example/hook", post, now, batch=2)
    assert again.delivered == 0 and again.failed == 5 and posted == ids[:5]


def test_a_city_webhook_that_does_not_answer_ends_the_run(app: Any) -> None:
    ids = _notifications(app, 5)
    posted: list[int] = []

    def silent(url: str, body: dict[str, Any], headers: dict[str, str]) -> int:
        posted.append(body["id"])
        raise TimeoutError("no answer within 10 seconds")

    now = dt.datetime.now(dt.UTC)
    run = notifications.deliver(_rt(app).engine, "https://city.example/hook", silent, now)
    limit = notifications.NO_ANSWER_LIMIT
    assert posted == ids[:limit] and run.failed == limit  # the rest would wait as long
    out_of_time = notifications.deliver(
        _rt(app).engine, "https://city.example/hook", silent, now, budget=-1.0
    )
    assert out_of_time.failed == 0 and posted == ids[:limit]  # past its budget: none started
    with Session(_rt(app).engine) as s:
        attempts = dict(s.execute(select(Notification.id, Notification.attempts)).all())
    assert attempts == {**dict.fromkeys(ids[:limit], 1), **dict.fromkeys(ids[limit:], 0)}


def test_one_notification_the_receiver_chokes_on_holds_up_no_other(app: Any) -> None:
    ids = _notifications(app, 5)

    def chokes_on_the_first(url: str, body: dict[str, Any], headers: dict[str, str]) -> int:
        if body["id"] == ids[0]:
            raise ConnectionResetError("connection reset by peer")
        return 204

    now, url = dt.datetime.now(dt.UTC), "https://city.example/hook"
    first = notifications.deliver(_rt(app).engine, url, chokes_on_the_first, now)
    assert first.delivered == 4 and first.failed == 1  # the others went out
    second = notifications.deliver(_rt(app).engine, url, chokes_on_the_first, now)
    assert second.delivered == 0 and second.failed == 1  # that one waits for the next run


def test_a_failing_sweep_still_delivers_what_was_committed_before(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _notifications(app, 2)
    app.config["NOTIFY_WEBHOOK_URL"] = "https://city.example/hook"
    posted: list[int] = []

    def post(url: str, body: dict[str, Any], headers: dict[str, str]) -> int:
        posted.append(body["id"])
        return 204

    def sweep_fails(*_args: Any) -> Any:
        raise OperationalError("SELECT", {}, sqlite3.OperationalError("database is locked"))

    monkeypatch.setattr(jobs, "_post", post)
    monkeypatch.setattr(sweeps, "expiry_sweep", sweep_fails)
    result = jobs.expiry_sweep(app)
    assert result["status"] == "error" and result["delivered"] == 2 and posted == ids


def test_a_requested_audit_whose_verdict_file_cannot_be_written_is_recorded_once(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audit ran: its verdict goes to the request's record (what the regulator sees),
    the file's failure to the log; neither a failed verdict of a sound ledger nor a whole
    audit again every 15 s."""
    rt = _rt(app)
    with transaction(rt.engine) as s:
        assert audit_requests.request(s, "regulator", rt.now())
    real, audited = audits.write_whole, []

    def disk_full(path: Path, text: str) -> None:
        if path.name == audits.FILE:
            audited.append(path)
            raise OSError(28, "No space left on device")
        real(path, text)

    monkeypatch.setattr(audits, "write_whole", disk_full)
    ran = jobs.requested_audit(app)
    assert ran["status"] == "done" and ran["requested"] is True and ran["ok"] is True
    assert jobs.requested_audit(app)["requested"] is False and len(audited) == 1
