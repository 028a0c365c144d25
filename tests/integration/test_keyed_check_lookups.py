"""A keyed write (the scanner sends every fill check with an Idempotency-Key) looks its
bearer token up once, not once for the key's claim and again for the view."""

from __future__ import annotations

from typing import Any

import pytest

from app import auth, idempotency
from tests import flows


def test_a_keyed_fill_check_looks_its_token_up_once(
    client: Any, demo: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = flows.register(client, demo)
    calls: list[str] = []
    for module in (auth, idempotency):
        real = module.actor_for_token
        monkeypatch.setattr(
            module, "actor_for_token", lambda s, t, real=real: calls.append(t) or real(s, t)
        )
    first = flows.check(client, demo, code, **{"Idempotency-Key": "scan-1"})
    assert first.status_code == 200 and first.get_json()["allowed"] is True
    assert len(calls) == 1
    again = flows.check(client, demo, code, **{"Idempotency-Key": "scan-1"})
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.get_json()["check_id"] == first.get_json()["check_id"]


def test_a_revoked_token_is_refused_on_its_next_keyed_request(client: Any, demo: Any) -> None:
    code = flows.register(client, demo)
    assert flows.check(client, demo, code, **{"Idempotency-Key": "a"}).status_code == 200
    me = client.get(
        "/api/v1/actors/me", headers={"Authorization": f"Bearer {demo['tokens']['station_a']}"}
    )
    actor_id = me.get_json()["id"]
    revoked = client.post(
        f"/api/v1/actors/{actor_id}/revoke",
        headers={"Authorization": f"Bearer {demo['tokens']['enterprise_a']}"},
    )
    assert revoked.status_code in (200, 204), revoked.get_json()
    assert flows.check(client, demo, code, **{"Idempotency-Key": "b"}).status_code == 401
