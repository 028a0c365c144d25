"""SQLite held by another process, or a file that could not be written: a clear 503 within
the web's busy timeout, nothing recorded, and writes again once it is over."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from tests.flows import database_refusals, register
from tests.seeded import app_config

BODY = {"type": "reported", "payload": {"kind": "label_damaged"}}


def _sqlite_only(app: Any) -> str:
    url: str = app.config["DATABASE_URL"]
    if not url.startswith("sqlite"):
        pytest.skip("SQLite's own locking and files")
    return url


def _events(client: Any, url: str, headers: dict[str, str]) -> int:
    return len(client.get(url, headers=headers).get_json()["events"])


def test_a_write_meeting_another_process_s_lock_is_503_locked_then_succeeds(
    app: Any, client: Any, demo: dict[str, Any], tmp_path: Path
) -> None:
    db_url = _sqlite_only(app)
    code = register(client, demo)
    from app import create_app

    impatient = create_app({**app_config(db_url, tmp_path), "SQLITE_BUSY_TIMEOUT_SECONDS": 1})
    web = impatient.test_client()
    headers = {"Authorization": f"Bearer {demo['tokens']['driver_a']}"}
    url = f"/api/v1/cylinders/{code}/events"
    before = _events(web, url, headers)
    refused = database_refusals(web).get("locked", 0)
    other = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # a backup or a repair holding the write lock
    try:
        t0 = time.monotonic()
        resp = web.post(url, json=BODY, headers={**headers, "Idempotency-Key": "locked-1"})
        waited = time.monotonic() - t0
        assert resp.status_code == 503, resp.get_data(as_text=True)
        assert resp.headers["Content-Type"] == "application/problem+json"
        assert resp.headers["Retry-After"] == "5"
        assert resp.get_json()["detail"].startswith("数据库正被另一进程锁定")
        assert 0.9 < waited < 10  # the web's busy timeout (1 s here), not 30 s
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert _events(web, url, headers) == before  # nothing recorded
    assert database_refusals(web)["locked"] == refused + 1  # for the monitor's alert
    again = web.post(url, json=BODY, headers={**headers, "Idempotency-Key": "locked-1"})
    assert again.status_code == 201, again.get_data(as_text=True)
    assert _events(web, url, headers) == before + 1
    impatient.extensions["ledger"].engine.dispose()


def test_connections_opened_while_the_file_was_read_only_are_opened_again(
    app: Any, client: Any, demo: dict[str, Any]
) -> None:
    """A connection opened while the file was not writable stays read-only: every such
    connection is dropped at its first refused write, so once the file is writable again
    the next write succeeds (no restart needed). ``query_only`` stands in for the file's
    permissions, which root ignores."""
    _sqlite_only(app)
    engine = app.extensions["ledger"].engine
    code = register(client, demo)
    headers = {"Authorization": f"Bearer {demo['tokens']['driver_a']}"}
    url = f"/api/v1/cylinders/{code}/events"
    before = _events(client, url, headers)
    read_only = {"now": True}
    refused = database_refusals(client).get("not_writable", 0)

    def opened(dbapi_conn: Any, _record: Any) -> None:
        if read_only["now"]:
            dbapi_conn.execute("PRAGMA query_only=ON")

    event.listen(engine, "connect", opened)
    engine.dispose()  # every connection from now on opens while "read-only"
    try:
        for i in range(3):  # more than one pooled connection meets it
            resp = client.post(url, json=BODY, headers={**headers, "Idempotency-Key": f"ro-{i}"})
            assert resp.status_code == 503, resp.get_data(as_text=True)
            assert resp.headers["Retry-After"] == "30"
            assert resp.get_json()["detail"].startswith("数据库文件无法写入")
        # Counted once a request, while /healthz reads on: the monitor's alert. These reads
        # leave read-only connections in the pool, which the next write meets.
        assert database_refusals(client)["not_writable"] == refused + 3
        assert client.get("/healthz").status_code == 200
        read_only["now"] = False  # the operator fixed the permissions
        resp = client.post(url, json=BODY, headers={**headers, "Idempotency-Key": "ro-0"})
        assert resp.status_code == 201, resp.get_data(as_text=True)
    finally:
        event.remove(engine, "connect", opened)
    assert _events(client, url, headers) == before + 1
