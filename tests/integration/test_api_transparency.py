"""The public log endpoints: an outside verifier checks the ledger with only these."""

from __future__ import annotations

import base64
import hashlib

import rfc8785

from ledger import merkle
from ledger.checkpoint import open_checkpoint
from ledger.note import verifier_from_key
from tests.conftest import bearer, cylinder_body


def b64(text: str) -> bytes:
    return base64.b64decode(text)


def grow(client, demo, n: int) -> None:
    for _ in range(n):
        resp = client.post(
            "/api/v1/cylinders",
            json=cylinder_body(),
            headers=bearer(demo["tokens"]["enterprise_a"]),
        )
        assert resp.status_code == 201


def checkpoint(client, runner):
    runner.invoke(args=["ledger", "checkpoint"])
    note = client.get("/api/v1/ledger/checkpoint")
    assert note.status_code == 200 and note.mimetype == "text/plain"
    vkey = client.get("/api/v1/ledger/key").get_data(as_text=True).strip()
    return open_checkpoint(note.get_data(as_text=True), verifier_from_key(vkey), "ledger.test/log")


def test_the_checkpoint_is_a_signed_note_that_verifies_with_the_published_key(client, runner):
    cp = checkpoint(client, runner)
    assert cp.size == 5  # the demo's five registrations
    vkey = client.get("/api/v1/ledger/key").get_data(as_text=True).strip()
    name, hex8, key = vkey.split("+", 2)  # base64 may itself contain "+"
    assert name == "ledger.test/log" and len(hex8) == 8 and b64(key)[0] == 1


def test_every_leaf_is_included_in_the_checkpointed_tree(client, demo, runner):
    grow(client, demo, 6)
    cp = checkpoint(client, runner)
    for index in range(cp.size):
        proof = client.get(
            f"/api/v1/ledger/proofs/inclusion?index={index}&size={cp.size}"
        ).get_json()
        merkle.verify_inclusion(
            b64(proof["leaf_hash"]), index, cp.size, [b64(h) for h in proof["hashes"]], cp.root
        )


def test_an_old_checkpoint_is_consistent_with_a_newer_one(client, demo, runner):
    old = checkpoint(client, runner)
    grow(client, demo, 7)
    new = checkpoint(client, runner)
    proof = client.get(
        f"/api/v1/ledger/proofs/consistency?old={old.size}&new={new.size}"
    ).get_json()
    merkle.verify_consistency(
        old.size, new.size, [b64(h) for h in proof["hashes"]], old.root, new.root
    )
    empty = client.get(f"/api/v1/ledger/proofs/consistency?old=0&new={new.size}").get_json()
    assert empty["hashes"] == []


def test_a_regulator_recomputes_a_leafs_event_hash_from_the_leaf_alone(client, demo, runner):
    cp = checkpoint(client, runner)
    leaf = client.get(
        "/api/v1/ledger/leaves/2", headers=bearer(demo["tokens"]["regulator"])
    ).get_json()
    event = dict(leaf["event"])
    stored = event.pop("hash")
    event.pop("signature")
    event.pop("leaf_index")
    recomputed = hashlib.sha256(rfc8785.dumps(event)).digest()
    assert recomputed.hex() == stored and b64(leaf["event_hash"]) == recomputed
    proof = client.get(f"/api/v1/ledger/proofs/inclusion?index=2&size={cp.size}").get_json()
    assert b64(proof["leaf_hash"]) == merkle.leaf_hash(recomputed)


def test_leaves_are_for_regulators(client, demo):
    assert client.get("/api/v1/ledger/leaves/0").status_code == 401
    assert (
        client.get(
            "/api/v1/ledger/leaves/0", headers=bearer(demo["tokens"]["enterprise_a"])
        ).status_code
        == 403
    )
    assert (
        client.get(
            "/api/v1/ledger/leaves/999", headers=bearer(demo["tokens"]["regulator"])
        ).status_code
        == 404
    )


def test_proofs_outside_the_log_are_clear_errors(client):
    for query in (
        "inclusion?index=5&size=5",
        "inclusion?index=0&size=999",
        "inclusion?index=-1&size=3",
        "inclusion?index=a&size=3",
        "inclusion",
        "consistency?old=4&new=3",
        "consistency?old=0&new=999",
    ):
        resp = client.get(f"/api/v1/ledger/proofs/{query}")
        assert resp.status_code in (400, 422), query
        assert resp.headers["Content-Type"] == "application/problem+json"
        assert resp.get_json()["detail"]


def test_the_openapi_document_and_docs_are_served_without_any_cdn(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/cylinders" in spec["paths"]
    docs = client.get("/api/v1/docs").get_data(as_text=True)
    assert "cdn." not in docs and "/static/vendor/swagger-ui/" in docs
    asset = client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js")
    assert asset.status_code == 200
    asset.close()
