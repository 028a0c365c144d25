"""GET /api/v1/notifications: owners read the expiry sweep's notifications without a webhook."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlmodel import Session, col

from app import jobs
from ledger.model_ops import Notification
from ledger.model_rules import CylinderStateRow
from tests.conftest import bearer
from tests.flows import local_today, register

URL = "/api/v1/notifications"


def _engine(app: Any) -> Any:
    return app.extensions["ledger"].engine


def _expire(app: Any, owner: int, column: str, n: int, skip: int = 0) -> list[str]:
    """Move ``column`` (a due date) of ``n`` of an owner's cylinders to yesterday."""
    yesterday = local_today() - dt.timedelta(days=1)
    s = CylinderStateRow
    with Session(_engine(app)) as session:
        query = select(col(s.cylinder_id)).where(col(s.owner_id) == owner)
        query = query.order_by(col(s.cylinder_id)).offset(skip).limit(n)
        ids = list(session.execute(query).scalars())
        assert len(ids) == n
        session.execute(update(s).where(col(s.cylinder_id).in_(ids)).values({column: yesterday}))
        session.commit()
    return ids


def _rows(app: Any) -> list[dict[str, Any]]:
    """Every notification, as stored."""
    with Session(_engine(app)) as session:
        rows = session.execute(select(Notification).order_by(col(Notification.id))).scalars()
        return [n.model_dump() for n in rows]


@pytest.fixture
def notes(app: Any, client: Any, demo: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    """Two sweeps' notifications for enterprises A and B, the even ids taken by a webhook."""
    a, b = demo["enterprises"]["a"], demo["enterprises"]["b"]
    for _ in range(3):
        register(client, demo, who="enterprise_b")
    first = {
        *_expire(app, a, "next_inspection_due", 3),
        *_expire(app, b, "next_inspection_due", 2),
    }
    assert jobs.expiry_sweep(app)["overdue"] == 5
    second = {
        *_expire(app, a, "end_of_life", 2, skip=3),
        *_expire(app, b, "end_of_life", 1, skip=2),
    }
    assert jobs.expiry_sweep(app)["end_of_life"] == 3
    app.config["NOTIFY_WEBHOOK_URL"] = "http://127.0.0.1:9/hook"
    monkeypatch.setattr(jobs, "_post", lambda url, body, headers: 503 if body["id"] % 2 else 204)
    swept = jobs.expiry_sweep(app)
    assert swept["delivered"] + swept["delivery_failed"] == 8
    rows = _rows(app)
    assert {r["cylinder_id"] for r in rows} == first | second
    return {"a": a, "b": b, "rows": rows, "first": first, "second": second}


def _get(client: Any, demo: dict[str, Any], who: str | None, **params: Any) -> Any:
    headers = bearer(demo["tokens"][who]) if who else {}
    return client.get(URL, query_string=params, headers=headers)


def _items(client: Any, demo: dict[str, Any], who: str, **params: Any) -> list[dict[str, Any]]:
    resp = _get(client, demo, who, **params)
    assert resp.status_code == 200, resp.get_json()
    doc = resp.get_json()
    assert doc["next_before_id"] is None  # everything fits in one page
    items: list[dict[str, Any]] = doc["items"]
    return items


def _ids(items: list[dict[str, Any]]) -> list[int]:
    return [i["id"] for i in items]


def _problem(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.get_json()
    assert resp.headers["Content-Type"] == "application/problem+json"
    doc: dict[str, Any] = resp.get_json()
    assert doc["status"] == status and doc["detail"]
    return doc


def test_each_enterprise_reads_exactly_its_own_newest_first(
    client: Any, demo: dict[str, Any], notes: dict[str, Any]
) -> None:
    for who, key, count in (("enterprise_a", "a", 5), ("enterprise_b", "b", 3)):
        items = _items(client, demo, who)
        stored = [r for r in notes["rows"] if r["enterprise_id"] == notes[key]]
        assert len(items) == count
        assert _ids(items) == sorted((r["id"] for r in stored), reverse=True)
        assert {i["enterprise_id"] for i in items} == {notes[key]}
        created = [dt.datetime.fromisoformat(i["created_at"]) for i in items]
        assert created == sorted(created, reverse=True)
        # the second sweep's (end of life) come before the first sweep's (overdue)
        kinds = [i["kind"] for i in items]
        assert kinds == sorted(kinds)  # "end_of_life" < "overdue"
        assert {i["cylinder_id"] for i in items if i["kind"] == "end_of_life"} <= notes["second"]


def test_an_item_is_the_webhook_document_with_its_delivery(
    client: Any, demo: dict[str, Any], notes: dict[str, Any]
) -> None:
    by_id = {r["id"]: r for r in notes["rows"]}
    for item in _items(client, demo, "regulator"):
        row = by_id[item["id"]]
        assert set(item) == {
            "id", "enterprise_id", "cylinder_id", "code", "kind", "due_on", "message",
            "created_at", "delivered_at", "attempts",
        }  # fmt: skip
        assert item["code"] == row["code"] and item["message"] == row["message"]
        assert item["cylinder_id"] == row["cylinder_id"]
        assert item["due_on"] == row["due_on"].isoformat()
        assert item["attempts"] == 1
        if item["id"] % 2:  # the webhook answered 503
            assert item["delivered_at"] is None
        else:
            assert dt.datetime.fromisoformat(item["delivered_at"]) == row["delivered_at"]


def test_the_regulator_reads_every_enterprise_and_may_filter(
    client: Any, demo: dict[str, Any], notes: dict[str, Any]
) -> None:
    every = _items(client, demo, "regulator")
    assert _ids(every) == sorted((r["id"] for r in notes["rows"]), reverse=True)
    assert {i["enterprise_id"] for i in every} == {notes["a"], notes["b"]}
    for key, who in (("a", "enterprise_a"), ("b", "enterprise_b")):
        only = _items(client, demo, "regulator", enterprise_id=notes[key])
        assert only == _items(client, demo, who)
    assert _items(client, demo, "admin") == every
    assert _items(client, demo, "regulator", enterprise_id=99999) == []


@pytest.mark.parametrize("limit", [1, 3, 7, 8])
def test_paging_by_before_id_reads_each_item_exactly_once(
    client: Any, demo: dict[str, Any], notes: dict[str, Any], limit: int
) -> None:
    seen: list[int] = []
    before: int | None = None
    for _ in range(20):
        params = {"limit": limit} | ({"before_id": before} if before else {})
        resp = _get(client, demo, "regulator", **params)
        assert resp.status_code == 200
        doc = resp.get_json()
        assert 1 <= len(doc["items"]) <= limit
        seen += _ids(doc["items"])
        before = doc["next_before_id"]
        if before is None:
            break
        assert before == seen[-1]
    assert seen == sorted((r["id"] for r in notes["rows"]), reverse=True)


def test_kind_and_undelivered_filter(
    client: Any, demo: dict[str, Any], notes: dict[str, Any]
) -> None:
    rows = notes["rows"]
    for kind in ("overdue", "end_of_life"):
        items = _items(client, demo, "regulator", kind=kind)
        assert _ids(items) == sorted((r["id"] for r in rows if r["kind"] == kind), reverse=True)
    waiting = _items(client, demo, "regulator", undelivered="true")
    assert waiting and all(i["delivered_at"] is None for i in waiting)
    expected = [r["id"] for r in rows if r["delivered_at"] is None]
    assert _ids(waiting) == sorted(expected, reverse=True) and len(expected) < len(rows)
    assert len(_items(client, demo, "regulator", undelivered="false")) == len(rows)
    mine = _items(client, demo, "enterprise_a", kind="end_of_life", undelivered="true")
    assert _ids(mine) == sorted(
        (
            r["id"]
            for r in rows
            if r["enterprise_id"] == notes["a"]
            and r["kind"] == "end_of_life"
            and r["delivered_at"] is None
        ),
        reverse=True,
    )


def test_who_may_not_read_is_refused(
    client: Any, demo: dict[str, Any], notes: dict[str, Any]
) -> None:
    assert _problem(_get(client, demo, None), 401)
    for who in ("station_a", "driver_a", "inspector"):
        assert "notifications" in _problem(_get(client, demo, who), 403)["detail"]
    for who, other in (("enterprise_a", "b"), ("enterprise_b", "a")):
        resp = _get(client, demo, who, enterprise_id=notes[other])
        assert "本企业" in _problem(resp, 403)["detail"]
    assert _items(client, demo, "enterprise_a", enterprise_id=notes["a"])


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 501},
        {"limit": "many"},
        {"kind": "expired"},
        {"before_id": 0},
        {"enterprise_id": -1},
        {"undelivered": "perhaps"},
    ],
)
def test_bad_parameters_are_422_problems(
    client: Any, demo: dict[str, Any], params: dict[str, Any]
) -> None:
    doc = _problem(_get(client, demo, "regulator", **params), 422)
    assert set(params) <= set(doc["errors"]["query"])


def test_a_read_writes_nothing(client: Any, demo: dict[str, Any], notes: dict[str, Any]) -> None:
    for who in ("enterprise_a", "enterprise_b", "regulator", "station_a"):
        _get(client, demo, who)
        _get(client, demo, who, undelivered="true", limit=2)
    assert _rows(client.application) == notes["rows"]
