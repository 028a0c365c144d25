"""Rotating the checkpoint key (docs/deploy.md §9): old checkpoints still verify with the
old key, new ones with the new key, and the tree after the rotation extends the one before.
The server's own audits (nightly, requested, ``ledger audit`` without ``--key``) take the
retired keys from ``<KEYS_DIR>/retired/``: a ``.key`` file or a ``.vkey`` verifier key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select

from app import audits, create_app, jobs
from app.jobs import integrate_and_checkpoint
from ledger import log, merkle
from ledger.checkpoint import CheckpointError, open_checkpoint
from ledger.keys import SERVER_KEY_FILE
from ledger.model import Checkpoint
from ledger.note import generate_signer_key, signer_from_key, verifier_from_key, verifier_key_for
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


def _rotate(app: Any, demo: Any, retire_as: str) -> tuple[Any, Path]:
    """Checkpoint under the old key, retire it (``key``: the key file itself; ``vkey``: only
    its verifier key, the old key deleted), start with a new key and checkpoint under it."""
    assert integrate_and_checkpoint(app)["status"] == "done"
    keys = Path(app.config["KEYS_DIR"])
    (keys / "retired").mkdir()
    (keys / "retired" / ".gitkeep").write_text("hidden files are skipped\n")
    if retire_as == "key":
        kept = keys / "retired" / "2025-server.key"
        (keys / SERVER_KEY_FILE).rename(kept)
    else:
        kept = keys / "retired" / "2025-server.vkey"
        kept.write_text(verifier_key_for(app.extensions["ledger"].authority.server) + "\n")
        (keys / SERVER_KEY_FILE).unlink()
    rotated = create_app({**app.config, "TESTING": True})
    flows.register(rotated.test_client(), demo, last_inspected_on="2026-01-10")
    assert integrate_and_checkpoint(rotated)["status"] == "done"
    return rotated, kept


@pytest.mark.parametrize("retire_as", ["key", "vkey"])
def test_the_servers_own_audits_take_the_retired_key(
    app: Any, client: Any, demo: Any, retire_as: str
) -> None:
    rotated, kept = _rotate(app, demo, retire_as)
    rt = rotated.extensions["ledger"]
    retired = sorted(kept.parent.iterdir())
    nightly = jobs.nightly_audit(rotated)
    assert nightly["status"] == "done" and nightly["ok"] is True, nightly
    kept_verdict = audits.last_verdict(rotated.instance_path)
    assert kept_verdict is not None and kept_verdict["ok"] is True
    assert kept_verdict["checkpoints"] >= 2 and kept_verdict["first_bad"] is None
    runner = rotated.test_cli_runner()
    cli = runner.invoke(args=["ledger", "audit"])
    assert cli.exit_code == 0 and cli.output.startswith("OK 审计通过"), cli.output + cli.stderr
    assert sorted(kept.parent.iterdir()) == retired  # read, nothing created beside it

    kept.unlink()  # without the retired key the old checkpoints no longer verify
    verdict = audits.run_and_keep(rt, rotated.instance_path)
    assert verdict["ok"] is False and verdict["ledger_ok"] is False
    first_bad = verdict["first_bad"]
    assert first_bad.startswith("checkpoint #1 ") and "does not verify" in first_bad
    failed = runner.invoke(args=["ledger", "audit"])
    assert failed.exit_code == 1 and "does not verify" in failed.output
    rt.engine.dispose()


def _other_origins_vkey() -> str:
    return verifier_key_for(signer_from_key(generate_signer_key("other.example/log")))


def _private_key() -> str:
    return generate_signer_key("ledger.test/log")


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("old.key", "not a key at all\n", "signer key must look like PRIVATE+KEY+"),
        ("old.vkey", "ledger.test/log+zzzz+AAAA\n", "is not 8 lowercase hex digits"),
        ("old.vkey", b"\xff\xfe", "utf-8"),
        ("old.vkey", _private_key(), "it holds a private key"),
        ("old.vkey", _other_origins_vkey(), "expected 'ledger.test/log'"),
        ("README.txt", "the old key is in the safe\n", "expected *.vkey"),
    ],
    ids=["garbage-key", "bad-vkey", "not-utf8", "private-in-vkey", "other-origin", "other"],
)
def test_a_bad_retired_key_file_is_named_in_a_failed_verdict(
    app: Any, name: str, content: str | bytes, says: str
) -> None:
    retired = Path(app.config["KEYS_DIR"]) / "retired"
    retired.mkdir()
    bad = retired / name
    bad.write_bytes(content if isinstance(content, bytes) else content.encode())
    nightly = jobs.nightly_audit(app)  # a verdict, not an exception in the scheduler
    assert nightly["status"] == "done" and nightly["ok"] is False
    verdict = audits.last_verdict(app.instance_path)
    assert verdict is not None and verdict["ok"] is False
    message = verdict["first_bad"]
    assert message.startswith(f"退役密钥文件有误 bad retired key file {bad}: ")
    assert says.lower() in message.lower()
    if isinstance(content, str) and content.startswith("PRIVATE+"):
        secret = content.strip().split("+", 4)[4]  # PRIVATE+KEY+name+hex8+base64 (may hold +)
        assert secret not in message  # the secret is never echoed
    cli = app.test_cli_runner().invoke(args=["ledger", "audit"])
    assert cli.exit_code == 2 and cli.stdout == "", cli.output
    assert cli.stderr.strip() == message and "Traceback" not in cli.stderr
    bad.unlink()  # and with it gone the audit passes again
    assert audits.run_and_keep(app.extensions["ledger"], app.instance_path)["ok"] is True


def test_the_trace_page_proves_against_a_checkpoint_signed_before_the_rotation(
    app: Any, client: Any, demo: Any
) -> None:
    from app.pages import regulator
    from ledger import trace

    code = flows.register(client, demo, last_inspected_on="2026-01-10")
    assert integrate_and_checkpoint(app)["status"] == "done"  # the newest: the old key's
    keys = Path(app.config["KEYS_DIR"])
    (keys / "retired").mkdir()
    (keys / SERVER_KEY_FILE).rename(keys / "retired" / "2025-server.key")
    rotated = create_app({**app.config, "TESTING": True})  # no checkpoint of the new key yet
    origin = app.config["LEDGER_ORIGIN"]
    with rotated.test_request_context(), Session(rotated.extensions["ledger"].engine) as s:
        proof = trace.trace(s, code, regulator._verifier(), origin).proof
        assert proof.ok is True and proof.detail == "verified"
        alone = trace.trace(s, code, _verifier(rotated), origin).proof  # the new key alone
        assert alone.ok is False
    rotated.extensions["ledger"].engine.dispose()
