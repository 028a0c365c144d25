"""A statement cut by PostgreSQL's ``statement_timeout`` (docs/deploy.md §2: the web's
connections carry one, so a runaway query cannot hold a worker past gunicorn's timeout):
a 503 saying so, nothing recorded, and the next request served."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from tests.flows import database_refusals, register
from tests.seeded import app_config

BODY = {"type": "reported", "payload": {"kind": "label_damaged"}}


def test_a_statement_past_the_statement_timeout_is_503_and_records_nothing(
    app: Any, client: Any, demo: dict[str, Any], tmp_path: Path
) -> None:
    db_url: str = app.config["DATABASE_URL"]
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's statement_timeout")
    from app import create_app

    code = register(client, demo)
    sep = "&" if "?" in db_url else "?"
    # As the guide's web unit connects (options=-c statement_timeout=…); 1.5 s, for every
    # statement of the test's requests: ample for a loaded machine's ordinary ones.
    timed = create_app(app_config(f"{db_url}{sep}options=-c%20statement_timeout%3D1500", tmp_path))
    engine = timed.extensions["ledger"].engine
    web = timed.test_client()
    headers = {"Authorization": f"Bearer {demo['tokens']['driver_a']}"}
    url = f"/api/v1/cylinders/{code}/events"
    before = len(web.get(url, headers=headers).get_json()["events"])

    def slow(_conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        if "INSERT INTO events (" in statement:
            cursor.execute("SELECT pg_sleep(10)")  # a runaway statement in the append

    refused = database_refusals(web).get("statement_cancelled", 0)
    event.listen(engine, "before_cursor_execute", slow)
    try:
        resp = web.post(url, json=BODY, headers={**headers, "Idempotency-Key": "slow-1"})
        assert resp.status_code == 503, resp.get_data(as_text=True)
        assert resp.headers["Content-Type"] == "application/problem+json"
        assert resp.headers["Retry-After"] == "30"
        assert resp.get_json()["detail"].startswith("数据库查询超时或被取消")
        assert database_refusals(web)["statement_cancelled"] == refused + 1
    finally:
        event.remove(engine, "before_cursor_execute", slow)
    assert len(web.get(url, headers=headers).get_json()["events"]) == before
    again = web.post(url, json=BODY, headers={**headers, "Idempotency-Key": "slow-1"})
    assert again.status_code == 201, again.get_data(as_text=True)
    assert len(web.get(url, headers=headers).get_json()["events"]) == before + 1
    engine.dispose()
