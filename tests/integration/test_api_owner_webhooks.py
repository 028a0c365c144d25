"""PUT/GET/DELETE /api/v1/enterprises/{id}/webhook: an enterprise's own signed webhook."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from sqlmodel import Session

from ledger.model_webhooks import OwnerWebhook
from tests.conftest import bearer

HOOK = "https://oa.example.com/hooks/cylinders"


def _url(enterprise_id: int) -> str:
    return f"/api/v1/enterprises/{enterprise_id}/webhook"


def _put(client: Any, demo: dict[str, Any], who: str, enterprise_id: int, body: Any) -> Any:
    return client.put(_url(enterprise_id), json=body, headers=bearer(demo["tokens"][who]))


def _call(client: Any, demo: dict[str, Any], method: str, who: str, enterprise_id: int) -> Any:
    return client.open(_url(enterprise_id), method=method, headers=bearer(demo["tokens"][who]))


def _problem(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.get_json()
    assert resp.headers["Content-Type"] == "application/problem+json"
    doc: dict[str, Any] = resp.get_json()
    assert doc["status"] == status and doc["detail"]
    return doc


def _stored(app: Any, enterprise_id: int) -> OwnerWebhook | None:
    with Session(app.extensions["ledger"].engine) as s:
        return s.get(OwnerWebhook, enterprise_id)


@pytest.fixture
def a(demo: dict[str, Any]) -> int:
    enterprise_id: int = demo["enterprises"]["a"]
    return enterprise_id


def test_an_enterprise_admin_sets_reads_replaces_and_removes_its_webhook(
    app: Any, client: Any, demo: dict[str, Any], a: int
) -> None:
    first = _put(client, demo, "enterprise_a", a, {"url": HOOK})
    assert first.status_code == 200, first.get_json()
    assert first.headers["Cache-Control"] == "no-store"
    doc = first.get_json()
    assert set(doc) == {"enterprise_id", "url", "secret", "created_at", "updated_at"}
    assert doc["enterprise_id"] == a and doc["url"] == HOOK
    assert re.fullmatch(r"[0-9a-f]{64}", doc["secret"])
    stored = _stored(app, a)
    assert stored is not None and stored.secret == doc["secret"] and stored.url == HOOK
    assert stored.actor_id > 0

    read = _call(client, demo, "GET", "enterprise_a", a)
    assert read.status_code == 200
    assert read.get_json() == {
        "enterprise_id": a, "url": HOOK, "created_at": doc["created_at"],
        "updated_at": doc["updated_at"], "pending": 0, "failed": 0, "given_up": 0,
    }  # fmt: skip
    assert doc["secret"] not in read.get_data(as_text=True)

    other = "https://hooks.a.example:8443/v2"
    again = _put(client, demo, "enterprise_a", a, {"url": other}).get_json()
    assert again["url"] == other and again["secret"] != doc["secret"]
    assert re.fullmatch(r"[0-9a-f]{64}", again["secret"])
    assert again["created_at"] == doc["created_at"]
    updated = dt.datetime.fromisoformat(again["updated_at"])
    assert updated >= dt.datetime.fromisoformat(doc["updated_at"])
    assert _call(client, demo, "GET", "enterprise_a", a).get_json()["url"] == other

    gone = _call(client, demo, "DELETE", "enterprise_a", a)
    assert gone.status_code == 204 and gone.get_data() == b""
    assert _stored(app, a) is None
    _problem(_call(client, demo, "GET", "enterprise_a", a), 404)
    _problem(_call(client, demo, "DELETE", "enterprise_a", a), 404)


def test_oversight_reads_any_webhook_but_sets_none(
    app: Any, client: Any, demo: dict[str, Any], a: int
) -> None:
    secret = _put(client, demo, "enterprise_a", a, {"url": HOOK}).get_json()["secret"]
    for who in ("regulator", "admin"):
        read = _call(client, demo, "GET", who, a)
        assert read.status_code == 200 and read.get_json()["url"] == HOOK
        assert "secret" not in read.get_json() and secret not in read.get_data(as_text=True)
        _problem(_put(client, demo, who, a, {"url": "https://evil.example/h"}), 403)
        _problem(_call(client, demo, "DELETE", who, a), 403)
    stored = _stored(app, a)
    assert stored is not None and stored.url == HOOK and stored.secret == secret


@pytest.mark.parametrize("who", ["enterprise_b", "station_a", "driver_a", "inspector"])
def test_other_roles_and_another_enterprises_admin_are_refused(
    app: Any, client: Any, demo: dict[str, Any], a: int, who: str
) -> None:
    secret = _put(client, demo, "enterprise_a", a, {"url": HOOK}).get_json()["secret"]
    _problem(_call(client, demo, "GET", who, a), 403)
    _problem(_put(client, demo, who, a, {"url": "https://evil.example/h"}), 403)
    _problem(_call(client, demo, "DELETE", who, a), 403)
    stored = _stored(app, a)
    assert stored is not None and stored.url == HOOK and stored.secret == secret


def test_no_token_is_401_and_an_unknown_enterprise_404(
    client: Any, demo: dict[str, Any], a: int
) -> None:
    assert client.get(_url(a)).status_code == 401
    assert client.put(_url(a), json={"url": HOOK}).status_code == 401
    for missing in (987654, 2**40):
        _problem(_call(client, demo, "GET", "regulator", missing), 404)
    _problem(_put(client, demo, "enterprise_a", 987654, {"url": HOOK}), 403)  # not its own
    # An existing enterprise without a webhook: 404 too, for whoever may read it.
    _problem(_call(client, demo, "GET", "regulator", demo["enterprises"]["b"]), 404)
    _problem(_call(client, demo, "GET", "enterprise_b", demo["enterprises"]["b"]), 404)


BAD_URLS = [
    "http://oa.example.com/hook",  # plain http to another host
    "http://10.0.0.8/hook",
    "ftp://oa.example.com/hook",
    "https://user:pass@oa.example.com/hook",
    "https://user@oa.example.com/hook",
    "http://admin:x@localhost/hook",
    "/hooks/cylinders",  # relative
    "oa.example.com/hook",
    "https://",
    "https:///hook",
    "https://oa.example.com/" + "a" * 480,  # 503 characters
    "https://oa example.com/hook",
    "https://oa.example.com/hook\n",
    "https://oa.example.com:99999/hook",
    "https://[::1/hook",
    "javascript:alert(1)",
]


@pytest.mark.parametrize("bad", BAD_URLS)
def test_a_bad_url_is_422_and_changes_nothing(
    app: Any, client: Any, demo: dict[str, Any], a: int, bad: str
) -> None:
    secret = _put(client, demo, "enterprise_a", a, {"url": HOOK}).get_json()["secret"]
    doc = _problem(_put(client, demo, "enterprise_a", a, {"url": bad}), 422)
    assert " / " in doc["detail"]  # Chinese, then English
    stored = _stored(app, a)
    assert stored is not None and stored.url == HOOK and stored.secret == secret


@pytest.mark.parametrize("body", [{}, {"url": ""}, {"url": 5}, {"url": HOOK, "secret": "x"}])
def test_a_malformed_body_is_422_and_sets_nothing(
    app: Any, client: Any, demo: dict[str, Any], a: int, body: Any
) -> None:
    _problem(_put(client, demo, "enterprise_a", a, body), 422)
    assert _stored(app, a) is None


def test_http_is_accepted_for_this_host_only_and_the_message_says_so(
    app: Any, client: Any, demo: dict[str, Any], a: int
) -> None:
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True  # tests and closed networks only
    for url in ("http://localhost:8080/h", "http://127.0.0.1/h", "http://[::1]:9000/h"):
        resp = _put(client, demo, "enterprise_a", a, {"url": url})
        assert resp.status_code == 200 and resp.get_json()["url"] == url
    doc = _problem(_put(client, demo, "enterprise_a", a, {"url": "http://oa.example/h"}), 422)
    assert "localhost" in doc["detail"] and "https://" in doc["detail"]


def test_a_keyed_put_retried_gets_the_same_secret_back(
    client: Any, demo: dict[str, Any], a: int
) -> None:
    headers = {**bearer(demo["tokens"]["enterprise_a"]), "Idempotency-Key": "hook-1"}
    first = client.put(_url(a), json={"url": HOOK}, headers=headers)
    retry = client.put(_url(a), json={"url": HOOK}, headers=headers)
    assert first.status_code == retry.status_code == 200
    assert retry.headers.get("Idempotent-Replayed") == "true"
    assert retry.get_json()["secret"] == first.get_json()["secret"]
    read = _call(client, demo, "GET", "enterprise_a", a).get_json()
    assert read["updated_at"] == first.get_json()["updated_at"]  # set once
