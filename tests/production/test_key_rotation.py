"""Rotating the checkpoint key (docs/deploy.md §9): old checkpoints still verify with the
old key, new ones with the new key, and the tree after the rotation extends the one before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select

from app import create_app
from app.jobs import integrate_and_checkpoint
from ledger import log, merkle
from ledger.checkpoint import CheckpointError, open_checkpoint
from ledger.keys import SERVER_KEY_FILE
from ledger.model import Checkpoint
from ledger.note import verifier_from_key, verifier_key_for
from tests import flows


def _verifier(application: Any) -> Any:
    return verifier_from_key(verifier_key_for(application.extensions["ledger"].authority.server))


def test_old_checkpoints_verify_with_the_old_key_after_a_rotation(
    app: Any, client: Any, demo: Any, tmp_path: Path
) -> None:
    assert integrate_and_checkpoint(app)["status"] == "done"
    old_verifier = _verifier(app)
    # Rotate: the old key is retired (kept for verifiers), a new one is created at start-up.
    keys = Path(app.config["KEYS_DIR"])
    (keys / "retired").mkdir()
    (keys / SERVER_KEY_FILE).rename(keys / "retired" / SERVER_KEY_FILE)
    rotated = create_app({**app.config, "TESTING": True})
    new_verifier = _verifier(rotated)
    assert new_verifier.key_id != old_verifier.key_id
    new_client = rotated.test_client()
    flows.register(new_client, demo, last_inspected_on="2026-01-10")
    assert integrate_and_checkpoint(rotated)["status"] == "done"

    origin = app.config["LEDGER_ORIGIN"]
    with Session(rotated.extensions["ledger"].engine) as s:
        rows = s.execute(select(Checkpoint).order_by(col(Checkpoint.id))).scalars().all()
        old, new = rows[0], rows[-1]
        assert new.size > old.size
        proof = log.consistency_proof(s, old.size, new.size)
    body_old = open_checkpoint(old.note, old_verifier, origin)
    body_new = open_checkpoint(new.note, new_verifier, origin)
    with pytest.raises(CheckpointError):
        open_checkpoint(old.note, new_verifier, origin)
    with pytest.raises(CheckpointError):
        open_checkpoint(new.note, old_verifier, origin)
    # An outside verifier holding the old checkpoint accepts the new tree as its extension.
    merkle.verify_consistency(body_old.size, body_new.size, proof, body_old.root, body_new.root)
    with pytest.raises(merkle.ProofError):  # and the check can fail: a root it never had
        merkle.verify_consistency(body_old.size, body_new.size, proof, b"\x00" * 32, body_new.root)
    rotated.extensions["ledger"].engine.dispose()


def test_the_audit_after_a_rotation_takes_the_old_and_the_new_key(
    app: Any, client: Any, demo: Any
) -> None:
    assert integrate_and_checkpoint(app)["status"] == "done"
    old_key = verifier_key_for(app.extensions["ledger"].authority.server)
    keys = Path(app.config["KEYS_DIR"])
    (keys / "retired").mkdir()
    (keys / SERVER_KEY_FILE).rename(keys / "retired" / SERVER_KEY_FILE)
    rotated = create_app({**app.config, "TESTING": True})
    new_key = verifier_key_for(rotated.extensions["ledger"].authority.server)
    flows.register(rotated.test_client(), demo, last_inspected_on="2026-01-10")
    assert integrate_and_checkpoint(rotated)["status"] == "done"
    runner = rotated.test_cli_runner()
    both = runner.invoke(args=["ledger", "audit", "--key", old_key, "--key", new_key])
    assert both.exit_code == 0, both.output + both.stderr
    only_new = runner.invoke(args=["ledger", "audit", "--key", new_key])
    assert only_new.exit_code == 1 and "does not verify" in only_new.output
    rotated.extensions["ledger"].engine.dispose()
