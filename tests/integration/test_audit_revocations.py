"""The audit and revoked keys: nothing recorded after a revocation, and offline signatures.

An insider who holds a replaced (or revoked) device key and writes through the ledger's own
code, past the API's checks, gets a consistent chain and log; the audit still names the
event, the key and both times. An event a station signed offline with a key that was
replaced before it synced is refused, not recorded (docs/threat-model.md, 4).
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select
from sqlmodel import Session

from ledger import writer
from ledger.events import ZERO_HASH, EventFields, signing_message
from ledger.keys import device_key_id
from ledger.model import Actor, Event, SigningKey
from ledger.store import transaction
from tests.conftest import bearer, cylinder_body

API = "/api/v1"
REPORT = {"kind": "label_damaged"}


def _ok(client: Any, token: str, method: str, path: str, body: Any = None) -> Any:
    resp = client.open(API + path, method=method, json=body, headers=bearer(token))
    assert resp.status_code < 300, (method, path, resp.get_json(silent=True))
    return resp.get_json(silent=True)


def _device_driver(client: Any, demo: dict[str, Any]) -> tuple[dict[str, Any], Ed25519PrivateKey]:
    device = Ed25519PrivateKey.generate()
    public = base64.b64encode(device.public_key().public_bytes_raw()).decode()
    body = {"name": f"司机{uuid.uuid4().hex[:6]}", "role": "driver", "public_key": public}
    return _ok(client, demo["tokens"]["enterprise_a"], "POST", "/actors", body), device


def _signed(device: Ed25519PrivateKey, cylinder: str, actor: int, at: dt.datetime) -> Any:
    claim = EventFields(
        id=str(uuid.uuid4()), cylinder=cylinder, type="reported", occurred_at=at,
        recorded_at=at, actor=actor, station=None, site=None, payload=REPORT,
        prev_hash=ZERO_HASH, key_id="",
    )  # fmt: skip
    return claim, device.sign(signing_message(claim))


def _insider_append(app: Any, code: str, actor_id: int, device: Ed25519PrivateKey | None) -> Event:
    """Write an event with the ledger's own writer, past the API: chain and log stay whole."""
    rt = app.extensions["ledger"]
    now = dt.datetime.now(dt.UTC)
    with transaction(rt.engine) as session:
        actor = session.get(Actor, actor_id)
        assert actor is not None
        session.expunge(actor)
        head = writer.lock_head(session, code)
        signature = None
        if device is not None:
            actor.public_key = device.public_key().public_bytes_raw()  # the old, revoked key
            claim, signature = _signed(device, head.id, actor_id, now)
            event_id = claim.id
        else:
            event_id = str(uuid.uuid4())
        return writer.append(
            session, rt.authority, actor, head, "reported", REPORT, now, now, event_id, signature
        )


def test_an_event_recorded_after_its_key_was_replaced_is_named_by_the_audit(
    app: Any, client: Any, demo: dict[str, Any], runner: Any
) -> None:
    driver, device = _device_driver(client, demo)
    cylinder = _ok(client, demo["tokens"]["enterprise_a"], "POST", "/cylinders", cylinder_body())
    claim, signature = _signed(device, cylinder["id"], driver["id"], dt.datetime.now(dt.UTC))
    body = {"id": claim.id, "type": "reported", "occurred_at": claim.occurred_at.isoformat(),
            "payload": REPORT, "signature": base64.b64encode(signature).decode()}  # fmt: skip
    _ok(client, driver["token"], "POST", f"/cylinders/{cylinder['code']}/events", body)
    new_key = base64.b64encode(Ed25519PrivateKey.generate().public_key().public_bytes_raw())
    _ok(client, demo["tokens"]["enterprise_a"], "PUT", f"/actors/{driver['id']}/key",
        {"public_key": new_key.decode()})  # fmt: skip
    assert runner.invoke(args=["ledger", "audit"]).exit_code == 0  # signed before: still valid

    late = _insider_append(app, cylinder["code"], driver["id"], device)
    old_key = device_key_id(device.public_key().public_bytes_raw())
    assert late.key_id == old_key
    with Session(app.extensions["ledger"].engine) as s:
        revoked = s.get(SigningKey, old_key)
        assert revoked is not None and revoked.revoked_at is not None
    result = runner.invoke(args=["ledger", "audit"])
    assert result.exit_code == 1
    first = next(line for line in result.output.splitlines() if line.startswith("first bad:"))
    assert f"event {late.id} (cylinder {cylinder['code']}, #3)" in first
    assert f"signed by key {old_key}, revoked at {_iso(revoked.revoked_at)}" in first
    assert f"recorded at {_iso(late.recorded_at)} (after the revocation)" in first
    assert "PROJECTION" not in result.output  # that cylinder's events are the finding


def test_an_event_recorded_for_a_revoked_actor_is_named_by_the_audit(
    app: Any, client: Any, demo: dict[str, Any], runner: Any
) -> None:
    driver, _device = _device_driver(client, demo)
    cylinder = _ok(client, demo["tokens"]["enterprise_a"], "POST", "/cylinders", cylinder_body())
    revoked = _ok(client, demo["tokens"]["enterprise_a"], "POST", f"/actors/{driver['id']}/revoke")
    assert revoked["revoked_at"]
    late = _insider_append(app, cylinder["code"], driver["id"], None)  # server-signed
    result = runner.invoke(args=["ledger", "audit"])
    assert result.exit_code == 1
    assert f"event {late.id} (cylinder {cylinder['code']}, #2)" in result.output
    assert f"for actor {driver['id']}, revoked at" in result.output


def test_an_event_signed_offline_with_a_key_replaced_before_it_synced_is_refused(
    app: Any, client: Any, demo: dict[str, Any], runner: Any
) -> None:
    """Decided in docs/threat-model.md (4): not accepted; the station resends it unsigned."""
    driver, device = _device_driver(client, demo)
    cylinder = _ok(client, demo["tokens"]["enterprise_a"], "POST", "/cylinders", cylinder_body())
    offline_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)  # signed in the outbox
    claim, signature = _signed(device, cylinder["id"], driver["id"], offline_at)
    new_key = base64.b64encode(Ed25519PrivateKey.generate().public_key().public_bytes_raw())
    _ok(client, demo["tokens"]["enterprise_a"], "PUT", f"/actors/{driver['id']}/key",
        {"public_key": new_key.decode()})  # fmt: skip
    engine = app.extensions["ledger"].engine
    with Session(engine) as s:
        before = s.execute(select(func.count()).select_from(Event)).scalar_one()
    body = {"id": claim.id, "type": "reported", "occurred_at": offline_at.isoformat(),
            "payload": REPORT, "signature": base64.b64encode(signature).decode()}  # fmt: skip
    path = f"{API}/cylinders/{cylinder['code']}/events"
    resp = client.post(path, json=body, headers=bearer(driver["token"]))
    assert resp.status_code == 422
    assert "does not verify with the actor's device key" in resp.get_json()["detail"]
    with Session(engine) as s:
        assert s.execute(select(func.count()).select_from(Event)).scalar_one() == before
    del body["signature"]  # resent without the old key's signature: the server attests it
    resp = client.post(path, json=body, headers=bearer(driver["token"]))
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["occurred_at"].startswith(offline_at.strftime("%Y-%m-%dT%H:%M"))
    assert runner.invoke(args=["ledger", "audit"]).exit_code == 0


def _iso(value: dt.datetime) -> str:
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()
