"""A database that goes away and comes back: no 5xx after it is back, 503 while it is away.

The PostgreSQL tests drop only their own connections (``pg_terminate_backend`` scoped to an
``application_name`` made for the test), never the server other tests are using.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import Connection, Engine

from app import jobs
from ledger.model import Checkpoint, Event
from ledger.store import make_engine, transaction
from tests.conftest import bearer
from tests.flows import check, database_refusals, register
from tests.pages.conftest import csrf_of
from tests.reliability.server import BIN, ROOT, free_port, server_env
from tests.seeded import app_config, seed_into

REPORT = {"type": "reported", "payload": {"kind": "label_damaged"}}


def _named(db_url: str) -> tuple[str, str]:
    """The URL with an application_name of its own, and that name."""
    name = f"outage_{uuid.uuid4().hex[:10]}"
    sep = "&" if "?" in db_url else "?"
    return f"{db_url}{sep}application_name={name}", name


def _terminate(db_url: str, name: str) -> int:
    """Drop every connection of ``name`` (only this test's), as a restart or failover would;
    returns once the backends are gone (the timeout argument waits for them)."""
    admin = make_engine(db_url)
    try:
        with admin.connect() as conn:
            query = text(
                "SELECT count(pg_terminate_backend(pid, 10000)) FROM pg_stat_activity "
                "WHERE application_name = :n AND pid <> pg_backend_pid()"
            )
            killed = int(conn.execute(query, {"n": name}).scalar_one())
    finally:
        admin.dispose()
    return killed


@pytest.fixture
def pg_app(db_url: str, tmp_path: Path) -> Iterator[tuple[Any, str, str]]:
    """The app on PostgreSQL through connections named for this test; (app, url, name)."""
    if not db_url.startswith("postgresql"):
        pytest.skip("dropped connections are PostgreSQL's (SQLite has none to drop)")
    url, name = _named(db_url)
    application = seed_into(url, tmp_path)
    yield application, db_url, name
    application.extensions["ledger"].engine.dispose()


def _demo(app: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((Path(app.instance_path) / "demo.json").read_text())
    return doc


def _events(app: Any) -> int:
    with transaction(app.extensions["ledger"].engine, write=False) as session:
        return int(session.execute(select(func.count()).select_from(Event)).scalar_one())


def test_every_request_after_the_connections_are_dropped_succeeds(
    pg_app: tuple[Any, str, str],
) -> None:
    app, db_url, name = pg_app
    client, demo = app.test_client(), _demo(app)
    code = register(client, demo)
    regulator, driver = bearer(demo["tokens"]["regulator"]), bearer(demo["tokens"]["driver_a"])
    steps: list[tuple[str, Any]] = [
        ("read", lambda: client.get(f"/api/v1/cylinders/{code}", headers=regulator)),
        ("history", lambda: client.get(f"/api/v1/cylinders/{code}/events", headers=regulator)),
        ("public page", lambda: client.get(f"/c/{code}")),
        ("fill check", lambda: check(client, demo, code)),
        ("keyed write", lambda: client.post(
            f"/api/v1/cylinders/{code}/events", json=REPORT,
            headers={**driver, "Idempotency-Key": uuid.uuid4().hex})),
        ("unkeyed write", lambda: client.post(
            f"/api/v1/cylinders/{code}/events", json=REPORT, headers=driver)),
        ("customer", lambda: client.post(
            "/api/v1/customers", headers=bearer(demo["tokens"]["enterprise_a"]),
            json={"name": "张三", "kind": "household", "address": "二号", "basement": False})),
        ("proof", lambda: client.get("/api/v1/ledger/checkpoint")),
    ]  # fmt: skip
    for label, step in steps:
        assert step().status_code < 500  # the pool holds live connections now
        before = _events(app)
        assert _terminate(db_url, name) >= 1, label
        resp = step()
        assert resp.status_code < 500, (label, resp.status_code, resp.get_data(as_text=True))
        if label.endswith("write"):
            assert resp.status_code == 201 and _events(app) == before + 1, label


def _drop_the_commit_of_an_event(app: Any, db_url: str, name: str) -> dict[str, bool]:
    """Make the COMMIT of the next transaction that inserts an event go to a dead connection."""
    engine: Engine = app.extensions["ledger"].engine
    armed = {"insert": False, "fired": False}

    def watch(_conn: Connection, _cur: Any, statement: str, *_args: Any) -> None:
        if "INSERT INTO events" in statement:
            armed["insert"] = True

    def drop_at_commit(_conn: Connection) -> None:
        if armed["insert"] and not armed["fired"]:
            armed["fired"] = True
            _terminate(db_url, name)  # the server is gone before COMMIT reaches it

    event.listen(engine, "before_cursor_execute", watch)
    event.listen(engine, "commit", drop_at_commit)
    return armed


@pytest.mark.parametrize("keyed", [False, True], ids=["unkeyed", "keyed"])
def test_a_connection_lost_during_commit_is_503_and_a_keyed_retry_records_once(
    pg_app: tuple[Any, str, str], keyed: bool
) -> None:
    app, db_url, name = pg_app
    client, demo = app.test_client(), _demo(app)
    code = register(client, demo)
    headers = bearer(demo["tokens"]["driver_a"])
    if keyed:
        headers["Idempotency-Key"] = uuid.uuid4().hex
    before = _events(app)
    armed = _drop_the_commit_of_an_event(app, db_url, name)
    lost = client.post(f"/api/v1/cylinders/{code}/events", json=REPORT, headers=headers)
    assert armed["fired"]
    assert lost.status_code == 503 and int(lost.headers["Retry-After"]) > 0
    assert lost.headers["Content-Type"] == "application/problem+json"
    if not keyed:  # a keyed write commits with its answer (app/idempotency.py) and says so
        detail = lost.get_json()["detail"]
        assert detail.startswith("数据库连接在提交时中断") and "may or may not be" in detail
    assert _events(app) == before  # COMMIT never reached the server
    if not keyed:
        return
    again = client.post(f"/api/v1/cylinders/{code}/events", json=REPORT, headers=headers)
    assert again.status_code == 201
    replay = client.post(f"/api/v1/cylinders/{code}/events", json=REPORT, headers=headers)
    assert replay.status_code == 201 and replay.get_json()["id"] == again.get_json()["id"]
    assert _events(app) == before + 1


def _closed_port_app(tmp_path: Path) -> Any:
    from app import create_app

    url = f"postgresql://postgres@127.0.0.1:{free_port()}/test"  # nothing listens there
    return create_app(app_config(url, tmp_path))


def test_while_the_database_is_unreachable_every_answer_is_a_503(
    tmp_path: Path,
) -> None:
    app = _closed_port_app(tmp_path)
    client, token = app.test_client(), bearer("x" * 43)
    refused = database_refusals(client).get("down", 0)
    answers = [
        client.get("/api/v1/cylinders/ABC123"),
        client.get("/api/v1/cylinders/ABC123/events", headers=token),
        client.post("/api/v1/cylinders/ABC123/events", json=REPORT, headers=token),
        client.post("/api/v1/fill-checks", json={"station_id": 1, "scan": "ABC"}, headers=token),
        client.post(
            "/api/v1/cylinders/ABC123/events",
            json=REPORT,
            headers={**token, "Idempotency-Key": "k1"},
        ),
        client.get("/api/v1/ledger/checkpoint"),
        client.get("/healthz"),  # the load balancer's probe takes the worker out
    ]
    for resp in answers:
        assert resp.status_code == 503, resp.get_data(as_text=True)
        assert resp.headers["Content-Type"] == "application/problem+json"
        assert int(resp.headers["Retry-After"]) > 0
        detail = resp.get_json()["detail"]
        assert detail.startswith("数据库暂时不可用") and "nothing was recorded" in detail
        assert "Traceback" not in resp.get_data(as_text=True)
    # A person's page says so as a page in the page's language, with the way on.
    public = client.get("/c/ABC123?src=qr")  # a restaurant's phone, scanning a cylinder
    form = {"csrf_token": csrf_of(client.get("/login").get_data(as_text=True))}
    login = client.post("/login", data={**form, "login": "driver_a", "password": "x"})
    english = client.get("/c/ABC123?lang=en")
    for resp, way in ((public, "/c/ABC123?src=qr"), (login, "/login"), (english, None)):
        page = resp.get_data(as_text=True)
        assert resp.status_code == 503 and resp.mimetype == "text/html", page
        assert int(resp.headers["Retry-After"]) > 0 and "Traceback" not in page
        if way is not None:
            assert "数据库暂时不可用，本次操作未记录，请稍后重试" in page
            assert "nothing was recorded" not in page and f'href="{way}"' in page
    assert "<h1>database unavailable: nothing was recorded, retry</h1>" in english.get_data(
        as_text=True
    )
    assert 'id="retry"' in public.get_data(as_text=True)  # a GET is tried again where it was
    assert database_refusals(client)["down"] == refused + len(answers) + 3  # one each
    app.extensions["ledger"].engine.dispose()


def test_jobs_whose_database_is_unreachable_report_an_error_and_raise_nothing(
    tmp_path: Path,
) -> None:
    app = _closed_port_app(tmp_path)
    for job in jobs.JOBS.values():
        result = job(app)
        assert result["status"] == "error" and result["error"]
    app.extensions["ledger"].engine.dispose()


def test_jobs_recover_after_their_connections_are_dropped(pg_app: tuple[Any, str, str]) -> None:
    app, db_url, name = pg_app
    for job in jobs.JOBS.values():
        assert job(app)["status"] == "done"
    for job_name, job in jobs.JOBS.items():
        _terminate(db_url, name)
        # One run meets a dead connection at most: the error invalidates the whole pool.
        statuses = [job(app)["status"] for _ in range(3)]
        assert statuses.count("error") <= 1 and statuses[-1] == "done", (job_name, statuses)


def test_the_scheduler_process_keeps_running_through_an_outage(db_url: str, tmp_path: Path) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("dropped connections are PostgreSQL's")
    from app import create_app

    url, name = _named(db_url)
    env = server_env(url, tmp_path)
    subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", "demo", "seed", "--small"],
        cwd=ROOT, env=env, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    log = tmp_path / "scheduler.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [str(BIN / "flask"), "--app", "wsgi", "jobs", "run", "--every", "0.3"],
            cwd=ROOT, env=env, start_new_session=True, stdout=sink, stderr=sink,
        )  # fmt: skip
    web = create_app({**app_config(db_url, tmp_path), "INTEGRATE_AFTER_WRITE": False})
    client, demo = web.test_client(), _demo(web)
    try:
        for _ in range(3):
            register(client, demo)  # one more event for the scheduler to integrate
            _wait_for_tree(web, proc, log)  # it did: its pool holds a connection now
            assert _terminate(db_url, name) >= 1  # the scheduler's connections only
        register(client, demo)
        _wait_for_tree(web, proc, log)  # integrated after the last outage too
        assert proc.poll() is None  # still running
        assert "job failed: database error, will retry" in log.read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        web.extensions["ledger"].engine.dispose()


def _wait_for_tree(app: Any, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Wait (bounded) until the scheduler has checkpointed every event there is."""
    engine = app.extensions["ledger"].engine
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        with transaction(engine, write=False) as session:
            size = session.execute(select(func.max(Checkpoint.size))).scalar_one() or 0
        if size and size == _events(app):
            return
        time.sleep(0.1)
    raise AssertionError("the scheduler never checkpointed the new events")
