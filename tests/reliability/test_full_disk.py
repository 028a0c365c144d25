"""A full disk under a real server on SQLite: a file-size limit (RLIMIT_FSIZE) on gunicorn.

Writes past the limit fail with EFBIG, as on a full disk. Appends then answer 507 problem+json
(Chinese, then English), reads keep working, nothing half-written is left; after a restart
without the limit every acknowledged event is there, the audit passes and writes succeed.
"""

from __future__ import annotations

import resource
import signal
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from tests.flows import database_refusals
from tests.reliability.server import Server, flask, seed, server_env

HEADROOM = 64 * 1024  # bytes the database files may grow before "the disk is full"
BODY = {"type": "reported", "payload": {"kind": "label_damaged"}}


def _limit_file_size(limit: int) -> Any:
    def preexec() -> None:  # in the child, before exec: gunicorn and its workers inherit it
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


def _compact(path: Path) -> int:
    """Checkpoint the WAL into the database file and empty it; the file's size."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path.stat().st_size


def _assert_refused(resp: httpx.Response) -> None:
    """A refusal for lack of space: a 507 problem document, Chinese first, with Retry-After
    (a keyed write too, whose records and answer fail together at COMMIT)."""
    assert resp.status_code == 507, (resp.status_code, resp.text)
    assert resp.headers["Content-Type"] == "application/problem+json"
    assert int(resp.headers["Retry-After"]) > 0
    detail = resp.json()["detail"]
    assert detail.startswith("存储空间已满") and "nothing was recorded" in detail


def _append(url: str, token: str, code: str, key: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return httpx.post(
        f"{url}/api/v1/cylinders/{code}/events", json=BODY, headers=headers, timeout=30
    )


def _retry(url: str, token: str, code: str, key: str) -> httpx.Response:
    """A station's retry: while the refused request's claim on its key has not expired
    (its release could not be written to the full disk), the answer is 409 with
    Retry-After; the station waits that long and sends again."""
    for _ in range(20):
        resp = _append(url, token, code, key)
        if resp.status_code != 409 or "Retry-After" not in resp.headers:
            return resp
        time.sleep(min(float(resp.headers["Retry-After"]), 1.0))
    raise AssertionError(f"{key}: still claimed after 20 tries")


def _history(url: str, demo: dict[str, Any], code: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {demo['tokens']['regulator']}"}
    resp = httpx.get(f"{url}/api/v1/cylinders/{code}/events", headers=headers, timeout=30)
    assert resp.status_code == 200, resp.text
    doc: dict[str, Any] = resp.json()
    return doc


def _register(url: str, demo: dict[str, Any]) -> str:
    headers = {"Authorization": f"Bearer {demo['tokens']['enterprise_a']}"}
    body = {"serial": f"FULL{uuid.uuid4().hex[:8]}", "manufacturer": "金盾",
            "manufactured_on": "2024-03-01", "model": "YSP35.5", "capacity_kg": 15.0,
            "tare_kg": 16.8, "dual_phase": False}  # fmt: skip
    resp = httpx.post(f"{url}/api/v1/cylinders", json=body, headers=headers, timeout=30)
    assert resp.status_code == 201, resp.text
    code: str = resp.json()["code"]
    return code


def test_a_full_disk_refuses_writes_cleanly_and_loses_nothing(tmp_path: Path) -> None:
    db = tmp_path / "ledger.sqlite3"
    env = server_env(f"sqlite:///{db}", tmp_path)
    flask(env, "db", "upgrade")
    demo = seed(env)
    token = demo["tokens"]["driver_a"]
    limit = _compact(db) + HEADROOM
    full = Server(env, tmp_path, preexec=_limit_file_size(limit))
    full.start()
    acked: dict[str, str] = {}  # key → event id
    refused: list[str] = []  # keys of refused keyed appends
    refused_unkeyed = 0
    try:
        code = _register(full.url, demo)
        for i in range(3000):
            key = f"full-{i}"
            keyed = i % 2 == 0  # stations send a key; a bare append must fail as cleanly
            resp = _append(full.url, token, code, key if keyed else None)
            if resp.status_code == 201:
                acked[key] = resp.json()["id"]
                continue
            _assert_refused(resp)
            if keyed:
                refused.append(key)
            else:
                refused_unkeyed += 1
            if len(refused) >= 10 and refused_unkeyed >= 10:
                break
        assert acked and len(refused) >= 10, "the file-size limit was never reached"
        # Reads still work while the disk is full, and show every acknowledged event.
        seen = {e["id"] for e in _history(full.url, demo, code)["events"]}
        assert set(acked.values()) <= seen
    finally:
        full.kill()
    assert db.stat().st_size <= limit

    server = Server(env, tmp_path)  # the disk has room again
    server.start()
    try:
        history = _history(server.url, demo, code)
        ids = [e["id"] for e in history["events"]]
        assert history["chain_valid"]
        assert len(ids) == 1 + len(acked)  # the registration and each 201: nothing more
        assert set(acked.values()) <= set(ids)
        for key in refused[:5]:  # a refused write retried with its key is recorded once
            resp = _retry(server.url, token, code, key)
            assert resp.status_code == 201, resp.text
            assert _append(server.url, token, code, key).json()["id"] == resp.json()["id"]
        assert len(_history(server.url, demo, code)["events"]) == 1 + len(acked) + 5
    finally:
        server.kill()
    assert flask(env, "ledger", "checkpoint").returncode == 0
    audit = flask(env, "ledger", "audit", check=False)
    assert audit.returncode == 0, audit.stdout + audit.stderr


def test_database_or_disk_is_full_is_507_and_records_nothing(
    app: Any, client: Any, demo: dict[str, Any]
) -> None:
    """SQLITE_FULL ("database or disk is full"), made with max_page_count: no root needed."""
    engine = app.extensions["ledger"].engine
    if engine.dialect.name != "sqlite":
        pytest.skip("max_page_count is SQLite's")
    from tests.flows import register

    code = register(client, demo)
    with engine.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()

    @event.listens_for(engine, "connect")
    def _cap(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute(f"PRAGMA max_page_count={pages}")

    engine.dispose()  # every connection from now on has the cap
    headers = {"Authorization": f"Bearer {demo['tokens']['driver_a']}"}
    url = f"/api/v1/cylinders/{code}/events"
    before = len(client.get(f"{url}", headers=headers).get_json()["events"])
    counted = database_refusals(client).get("storage_full", 0)
    answers = [  # every other one keyed: its records and its answer commit together
        client.post(url, json=BODY, headers={**headers, "Idempotency-Key": f"cap-{i}"})
        if i % 2
        else client.post(url, json=BODY, headers=headers)
        for i in range(200)
    ]
    refused = [r for r in answers if r.status_code != 201]
    assert len(refused) >= 2, "the page cap was never reached"
    for resp in refused:
        assert resp.status_code == 507 and resp.headers["Retry-After"]
        assert resp.headers["Content-Type"] == "application/problem+json"
        assert resp.get_json()["detail"].startswith("存储空间已满")
    # Every refusal counted, keyed (refused at COMMIT by app.idempotency) or not: the
    # monitor's alert while /healthz, a read, says "ok".
    assert database_refusals(client)["storage_full"] == counted + len(refused)
    assert client.get("/healthz").status_code == 200
    after = client.get(url, headers=headers).get_json()
    assert after["chain_valid"] and len(after["events"]) == before + len(answers) - len(refused)


def _disk_full(dialect: str, statements: tuple[str, ...]) -> Any:
    """A ``before_cursor_execute`` hook failing the statements that contain one of
    ``statements`` as a full disk would: SQLite's "database or disk is full" (SQLITE_FULL),
    PostgreSQL's ``disk_full`` (53100)."""

    def fail(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not any(part in " ".join(statement.split()) for part in statements):
            return
        if dialect == "postgresql":
            import psycopg.errors

            raise psycopg.errors.DiskFull("could not extend file: No space left on device")
        error = sqlite3.OperationalError("database or disk is full")
        error.sqlite_errorcode = 13  # type: ignore[attr-defined]
        raise error

    return fail


def test_a_claim_that_cannot_be_released_answers_507_and_frees_when_stale(
    app: Any, client: Any, demo: dict[str, Any]
) -> None:
    """A keyed write refused for lack of space whose claim cannot be dropped either (the
    disk is still full): the client gets the 507 problem, never a 500; a retry meanwhile is
    409 with Retry-After; once the claim is stale the retry records the event once."""
    from tests.flows import register

    engine = app.extensions["ledger"].engine
    code = register(client, demo)
    headers = {"Authorization": f"Bearer {demo['tokens']['driver_a']}"}
    url = f"/api/v1/cylinders/{code}/events"
    before = len(client.get(url, headers=headers).get_json()["events"])
    release = "DELETE FROM idempotency_keys WHERE idempotency_keys.actor_id"  # not the purge
    fail = _disk_full(engine.dialect.name, ("INSERT INTO events (", release))
    event.listen(engine, "before_cursor_execute", fail)
    try:
        resp = client.post(url, json=BODY, headers={**headers, "Idempotency-Key": "full-1"})
        assert resp.status_code == 507, resp.get_data(as_text=True)
        assert resp.headers["Content-Type"] == "application/problem+json"
        assert resp.get_json()["detail"].startswith("存储空间已满")
    finally:
        event.remove(engine, "before_cursor_execute", fail)
    retry = client.post(url, json=BODY, headers={**headers, "Idempotency-Key": "full-1"})
    assert retry.status_code == 409 and retry.headers["Retry-After"]
    # The claim goes stale: at once, instead of after a second a loaded machine may use up
    # between the 507 and the first retry.
    app.config["IDEMPOTENCY_CLAIM_SECONDS"] = 0
    retry = client.post(url, json=BODY, headers={**headers, "Idempotency-Key": "full-1"})
    assert retry.status_code == 201, retry.get_data(as_text=True)
    again = client.post(url, json=BODY, headers={**headers, "Idempotency-Key": "full-1"})
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["id"] == retry.get_json()["id"]
    assert len(client.get(url, headers=headers).get_json()["events"]) == before + 1
