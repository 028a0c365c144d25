"""A form whose COMMIT was cut off mid-way: the person is told it may or may not be
recorded, and to look before doing it again (a form has no Idempotency-Key to resend)."""

from __future__ import annotations

from typing import Any

from flask import g
from sqlalchemy.exc import OperationalError

from app.outage import COMMIT_SENT
from tests.flows import database_refusals
from tests.pages.conftest import csrf_of


def test_a_form_lost_at_commit_says_to_look_before_doing_it_again(app: Any) -> None:
    def lost() -> None:
        g.setdefault(COMMIT_SENT, True)  # the COMMIT went out; the connection died in it
        closed = ConnectionResetError("server closed the connection unexpectedly")
        raise OperationalError(None, None, closed, connection_invalidated=True)

    app.add_url_rule("/station/lost-at-commit", "lost", lost, methods=["POST"])
    client = app.test_client()
    token = csrf_of(client.get("/login").get_data(as_text=True))
    counted = database_refusals(client).get("lost_at_commit", 0)  # the process's, so far
    resp = client.post(
        "/station/lost-at-commit", data={"csrf_token": token}, headers={"Referer": "/station"}
    )
    page = resp.get_data(as_text=True)
    assert resp.status_code == 503 and resp.mimetype == "text/html", page
    assert "本次操作可能已记录也可能未记录：请先查看记录，再决定是否重做" in page
    assert "Idempotency-Key" not in page and "Traceback" not in page
    assert int(resp.headers["Retry-After"]) > 0
    assert database_refusals(client)["lost_at_commit"] == counted + 1
