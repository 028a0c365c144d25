"""The server never signs a tree that does not extend the last checkpoint it signed (kept
beside its key, outside the database), and signs the tree again after a key rotation so
the checkpoint served verifies with the key served."""

from __future__ import annotations

from typing import Any

from app import jobs
from ledger import checkpoint_memory, log, merkle
from ledger.checkpoint import Checkpoint as Body
from ledger.checkpoint import open_checkpoint, sign_checkpoint
from ledger.note import generate_signer_key, signer_from_key, verifier_from_key, verifier_key_for
from ledger.store import transaction, upgrade
from tests import flows


def _rt(app: Any) -> Any:
    return app.extensions["ledger"]


def _checkpoints(app: Any) -> int:
    with transaction(_rt(app).engine, write=False) as s:
        return len(list(s.execute(log.select(log.Checkpoint)).scalars()))


def _remembered(app: Any) -> Body | None:
    return checkpoint_memory.remembered(_rt(app).keys_dir / checkpoint_memory.FILE_NAME)


def _forge_memory(app: Any, size: int, root: bytes) -> None:
    """The file as it would be had this server signed (size, root) last."""
    rt = _rt(app)
    note = sign_checkpoint(Body(rt.authority.origin, size, root), rt.authority.server)
    checkpoint_memory.remember(rt.keys_dir / checkpoint_memory.FILE_NAME, note)


def test_the_job_keeps_the_checkpoint_it_signed_and_goes_on_when_the_tree_extends_it(
    app: Any, client: Any, demo: Any
) -> None:
    first = jobs.integrate_and_checkpoint(app)
    assert first["status"] == "done"
    kept = _remembered(app)
    assert kept is not None and kept.size == first["tree_size"]
    flows.register(client, demo)  # the tree grows
    second = jobs.integrate_and_checkpoint(app)
    assert second["status"] == "done" and second["checkpoint_size"] == kept.size + 1
    assert _remembered(app).size == kept.size + 1  # type: ignore[union-attr]


def test_a_tree_smaller_than_the_last_signed_is_not_signed(
    app: Any, client: Any, demo: Any
) -> None:
    jobs.integrate_and_checkpoint(app)
    kept = _remembered(app)
    assert kept is not None
    _forge_memory(app, kept.size + 3, kept.root)  # as after a restore of an older backup
    flows.register(client, demo)
    before = _checkpoints(app)
    result = jobs.integrate_and_checkpoint(app)
    assert result["status"] == "refused", result
    assert "does not extend" in result["error"]
    assert _checkpoints(app) == before  # nothing signed
    assert _remembered(app).size == kept.size + 3  # type: ignore[union-attr]


def test_a_rewritten_prefix_is_not_signed(app: Any, client: Any, demo: Any) -> None:
    jobs.integrate_and_checkpoint(app)
    kept = _remembered(app)
    assert kept is not None and kept.size > 1
    _forge_memory(app, kept.size - 1, merkle.leaf_hash(b"another history"))
    flows.register(client, demo)
    before = _checkpoints(app)
    assert jobs.integrate_and_checkpoint(app)["status"] == "refused"
    assert _checkpoints(app) == before


def test_after_a_restore_the_operator_may_accept_the_tree(app: Any) -> None:
    jobs.integrate_and_checkpoint(app)
    kept = _remembered(app)
    assert kept is not None
    _forge_memory(app, kept.size + 3, kept.root)
    rt = _rt(app)
    memory = rt.keys_dir / checkpoint_memory.FILE_NAME
    with transaction(rt.engine) as s:
        row = checkpoint_memory.publish(
            s, rt.authority.server, rt.authority.origin, memory, accept=True
        )
    assert row.size == kept.size


def test_a_damaged_memory_file_stops_signing_with_a_clear_reason(app: Any) -> None:
    rt = _rt(app)
    (rt.keys_dir / checkpoint_memory.FILE_NAME).write_text("not a note\n")
    result = jobs.integrate_and_checkpoint(app)
    assert result["status"] == "refused" and "is not a checkpoint" in result["error"]


def test_after_a_key_rotation_the_same_tree_is_signed_again_with_the_new_key(app: Any) -> None:
    rt = _rt(app)
    origin = rt.authority.origin
    with transaction(rt.engine) as s:
        old = log.publish_checkpoint(s, rt.authority.server, origin)
    new_key = signer_from_key(generate_signer_key(rt.authority.server.name))
    with transaction(rt.engine) as s:
        again = log.publish_checkpoint(s, new_key, origin)
        same = log.publish_checkpoint(s, new_key, origin)
    assert again.id != old.id and (again.size, again.root) == (old.size, old.root)
    assert same.id == again.id  # signed once per key, not at every run
    body = open_checkpoint(again.note, verifier_from_key(verifier_key_for(new_key)), origin)
    assert body.size == old.size


def test_the_checkpoint_command_refuses_a_tree_that_does_not_extend_the_last_signed(
    app: Any, runner: Any, client: Any, demo: Any
) -> None:
    signed = runner.invoke(args=["ledger", "checkpoint"])
    assert signed.exit_code == 0, signed.output
    kept = _remembered(app)
    assert kept is not None and kept.body() in signed.output  # the note printed is kept
    _forge_memory(app, kept.size + 3, kept.root)  # as after a restore of an older backup
    flows.register(client, demo)
    before = _checkpoints(app)

    refused = runner.invoke(args=["ledger", "checkpoint"])
    assert refused.exit_code == 1
    assert "does not extend" in refused.output and "--after-restore" in refused.output
    assert "Traceback" not in refused.output
    assert _checkpoints(app) == before  # nothing signed
    assert _remembered(app).size == kept.size + 3  # type: ignore[union-attr]

    accepted = runner.invoke(args=["ledger", "checkpoint", "--after-restore"])
    assert accepted.exit_code == 0, accepted.output
    assert _remembered(app).size == kept.size + 1  # type: ignore[union-attr]
    assert jobs.integrate_and_checkpoint(app)["status"] == "done"  # the scheduler goes on


def test_seeding_the_demo_on_a_fresh_database_starts_a_new_memory(tmp_path: Any) -> None:
    from app import create_app

    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    upgrade(url)
    keys = tmp_path / "keys"
    keys.mkdir()
    fresh = create_app({
        "TESTING": True, "DATABASE_URL": url, "INSTANCE_PATH": str(tmp_path / "instance"),
        "KEYS_DIR": str(keys), "PUBLIC_BASE_URL": "https://ledger.test",
        "LEDGER_ORIGIN": "ledger.test/log",
    })  # fmt: skip
    try:
        _forge_memory(fresh, 500, merkle.leaf_hash(b"the database before this one"))
        seeded = fresh.test_cli_runner().invoke(args=["demo", "seed", "--small"])
        assert seeded.exit_code == 0, seeded.output
        kept = _remembered(fresh)
        with transaction(_rt(fresh).engine, write=False) as s:
            newest = log.latest_checkpoint(s)
        assert newest is not None and kept is not None
        assert (kept.size, kept.root) == (newest.size, newest.root)
        assert jobs.integrate_and_checkpoint(fresh)["status"] == "done"

        _forge_memory(fresh, 500, merkle.leaf_hash(b"a later rewrite"))
        again = fresh.test_cli_runner().invoke(args=["demo", "seed", "--small"])
        assert again.exit_code == 0, again.output  # already seeded: the memory is kept
        assert _remembered(fresh).size == 500  # type: ignore[union-attr]
    finally:
        _rt(fresh).engine.dispose()


def test_the_kept_audit_fails_when_the_log_does_not_hold_the_last_checkpoint_signed(
    app: Any, client: Any, demo: Any
) -> None:
    from app import audits

    assert jobs.integrate_and_checkpoint(app)["status"] == "done"
    good = audits.run_and_keep(_rt(app), app.instance_path)
    assert good["ok"] is True, good
    kept = _remembered(app)
    assert kept is not None
    # As if the database had been rolled back below what this server signed.
    _forge_memory(app, kept.size + 2, merkle.leaf_hash(b"events since deleted"))
    bad = audits.run_and_keep(_rt(app), app.instance_path)
    assert bad["ok"] is False and "witness" in bad["first_bad"], bad
