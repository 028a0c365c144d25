"""Secrets at rest and in logs: tokens hashed (SHA-256), passwords argon2, none ever logged."""

from __future__ import annotations

import logging
import re
from typing import Any

from sqlalchemy import select

from app.runtime import runtime
from ledger.model import Actor
from ledger.model_people import Person
from ledger.store import transaction
from tests.conftest import bearer


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def test_tokens_and_passwords_are_stored_only_as_hashes(app: Any, demo: Any) -> None:
    with app.app_context(), transaction(runtime().engine, write=False) as s:
        hashes = [a.token_hash for a in s.execute(select(Actor)).scalars()]
        passwords = [p.password_hash for p in s.execute(select(Person)).scalars()]
    for token in demo["tokens"].values():
        assert token not in hashes and all(token not in h for h in hashes if h)
    assert passwords and all(h.startswith("$argon2id$") for h in passwords)
    for secret in demo["passwords"].values():
        assert all(secret not in h for h in passwords)


def test_no_secret_reaches_a_log(app: Any, client: Any, demo: Any, caplog: Any, capfd: Any) -> None:
    caplog.set_level(logging.DEBUG)
    token = demo["tokens"]["enterprise_a"]
    password = demo["passwords"]["regulator"]
    page = client.get("/login").get_data(as_text=True)
    good = {"csrf_token": csrf_of(page), "login": "regulator", "password": password}
    assert client.post("/login", data=good).status_code == 302
    bad = {"csrf_token": csrf_of(page), "login": "regulator", "password": password + "x"}
    client.post("/logout", data={"csrf_token": csrf_of(page)})
    assert app.test_client().post("/login", data=bad).status_code in (400, 401)
    assert client.get("/api/v1/actors/me", headers=bearer(token)).status_code == 200
    assert client.get("/api/v1/actors/me", headers=bearer(token + "x")).status_code == 401
    created = client.post(
        "/api/v1/actors",
        json={"name": "新司机", "role": "driver"},
        headers=bearer(token),
    )
    new_token = (created.get_json() or {}).get("token")
    out, err = capfd.readouterr()  # JSON request logs go to the standard streams
    logged = caplog.text + "".join(str(r.__dict__) for r in caplog.records) + out + err
    assert "/api/v1/actors/me" in logged  # the requests were logged, without their secrets
    for secret in (token, token + "x", password, password + "x", new_token):
        if secret:
            assert secret not in logged
