"""Tampering ``ledger audit`` must catch beyond the events' own hashes and links: events of
no registered cylinder, edited chain heads, a damaged stored tree and queue, unreadable
timestamps, a log rolled back below a checkpoint kept outside the database (``--witness``),
leaves no checkpoint signs yet (a warning), and an audit that never creates a key file."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import Session

from app import create_app
from app.jobs import integrate_and_checkpoint
from ledger import checkpoint_memory, log, service
from ledger.audit_witness import split_notes
from ledger.checkpoint import Checkpoint as CheckpointBody
from ledger.checkpoint import sign_checkpoint
from ledger.keys import SERVER_KEY_FILE
from ledger.model import Actor, Checkpoint, Cylinder, Event, LogLeaf, Role
from ledger.note import generate_signer_key, signer_from_key, verifier_key_for
from ledger.store import transaction
from tests.conftest import cylinder_body

ORIGIN = "ledger.test/log"
DEMO_OK = "OK 审计通过: 5 events, 5 leaves, 1 checkpoints verified\n"


def engine_of(app: Any) -> Any:
    return app.extensions["ledger"].engine


def sql(app: Any, *statements: str, params: tuple[Any, ...] = ()) -> None:
    """Run raw statements as an insider would: a plain SQLite connection, foreign keys off."""
    url = app.config["DATABASE_URL"]
    if not url.startswith("sqlite"):
        pytest.skip("the tampering is written for SQLite")
    with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as db:
        for statement in statements:
            db.execute(statement, params if "?" in statement else ())
        db.commit()


def audit(runner: Any, *args: str) -> Any:
    result = runner.invoke(args=["ledger", "audit", "--workers", "1", *args])
    assert "Traceback" not in result.output + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def last_of_a_cylinder(app: Any) -> tuple[Cylinder, Event]:
    """A demo cylinder and its last event."""
    with Session(engine_of(app)) as s:
        cylinder = s.execute(select(Cylinder).order_by(Cylinder.code)).scalars().first()
        assert cylinder is not None
        event = (
            s.execute(
                select(Event).where(Event.cylinder_id == cylinder.id).order_by(Event.seq.desc())  # type: ignore[attr-defined]
            )
            .scalars()
            .first()
        )
        assert event is not None
        return cylinder, event


def register_one(app: Any) -> None:
    """A sixth event, committed and waiting to be integrated."""
    rt = app.extensions["ledger"]
    with transaction(rt.engine) as s:
        admin = (
            s.execute(
                select(Actor).where(
                    Actor.role == Role.ENTERPRISE_ADMIN,
                    Actor.enterprise_id.is_not(None),  # type: ignore[union-attr]
                )
            )
            .scalars()
            .first()
        )
        service.register_cylinder(s, rt.authority, admin, cylinder_body(), rt.now())


# 1. Every event's cylinder must exist --------------------------------------------------


def test_an_event_whose_cylinder_row_was_deleted_is_named(app, runner):
    cylinder, event = last_of_a_cylinder(app)
    sql(app, "DELETE FROM cylinders WHERE id = ?", params=(cylinder.id,))
    result = audit(runner)
    assert result.exit_code == 1, result.output
    assert "FAILED 审计未通过" in result.output
    assert f"event {event.id} (cylinder {cylinder.id}, #1)" in result.output
    assert "has no row in cylinders" in result.output


# 2. Chain heads ---------------------------------------------------------------------------


ANOTHER_EVENT = "is not its last stored event (the last event was removed or its hash changed)"


@pytest.mark.parametrize(
    ("head_seq", "head_hash", "says"),
    [
        ("0", "head_hash", "names its last event {id} but not its seq #1"),  # reset to 0
        ("head_seq + 1", "head_hash", "names its last event {id} but not its seq #1"),  # beyond
        ("0", "zeroblob(32)", ANOTHER_EVENT),  # emptied while events remain
        ("head_seq + 5", "zeroblob(32)", ANOTHER_EVENT),
    ],
    ids=["seq-0", "seq-beyond", "empty", "beyond-empty"],
)
def test_a_chain_head_that_is_not_the_last_event_is_named(app, runner, head_seq, head_hash, says):
    cylinder, event = last_of_a_cylinder(app)
    sql(
        app,
        f"UPDATE cylinders SET head_seq = {head_seq}, head_hash = {head_hash} WHERE id = ?",
        params=(cylinder.id,),
    )
    with Session(engine_of(app)) as s:
        stored = s.get(Cylinder, cylinder.id)
        assert stored is not None
        head = stored.head_seq
    result = audit(runner)
    assert result.exit_code == 1, result.output
    assert result.output.startswith("FAILED 审计未通过: 1 problem(s)")
    assert (
        f"cylinder {cylinder.code} ({cylinder.id}): its chain head (#{head}) "
        f"{says.format(id=event.id)}" in result.output
    )


def test_a_head_without_any_event_is_named(app, runner):
    sql(
        app,
        "INSERT INTO cylinders (id, code, serial, manufacturer, manufactured_on, model, "
        "capacity_kg, tare_kg, dual_phase, owner_id, registered_at, head_seq, head_hash) "
        "SELECT 'c0ffee00-0000-4000-8000-000000000000', 'NOEVENTS0001', serial || 'X', "
        "manufacturer, manufactured_on, model, capacity_kg, tare_kg, dual_phase, owner_id, "
        "registered_at, 3, head_hash FROM cylinders LIMIT 1",
    )
    result = audit(runner)
    assert result.exit_code == 1
    assert (
        "cylinder NOEVENTS0001 (c0ffee00-0000-4000-8000-000000000000): its chain head (#3) "
        f"{ANOTHER_EVENT}" in result.output
    )


# 3. The stored tree and the queue ---------------------------------------------------------


def test_a_deleted_tile_is_named(app, runner):
    sql(app, 'DELETE FROM merkle_tiles WHERE level = 0 AND "index" = 0')
    result = audit(runner)
    assert result.exit_code == 1, result.output
    assert "stored tree tile (0, 0) is missing" in result.output


def test_a_deleted_log_state_is_named(app, runner):
    sql(app, "DELETE FROM log_state")
    result = audit(runner)
    assert result.exit_code == 1, result.output
    assert "no stored log state (log_state), but the log has 5 leaves" in result.output


def test_a_pending_entry_of_an_integrated_event_is_named(app, runner):
    with Session(engine_of(app)) as s:
        event_id, event_hash = s.execute(
            select(LogLeaf.event_id, Event.hash)
            .join(Event, Event.id == LogLeaf.event_id)
            .where(LogLeaf.leaf_index == 2)
        ).one()
    sql(
        app,
        "INSERT INTO log_pending (event_id, event_hash) VALUES (?, ?)",
        params=(event_id, event_hash),
    )
    result = audit(runner)
    assert result.exit_code == 1, result.output
    assert f"log_pending entry of event {event_id} is already leaf 2" in result.output


def test_a_pending_entry_whose_hash_differs_from_its_event_is_named(app, runner):
    register_one(app)  # pending, not integrated
    with Session(engine_of(app)) as s:
        (event_id,) = s.execute(select(Event.id).order_by(Event.recorded_at.desc())).first()  # type: ignore[attr-defined,misc]
    assert audit(runner).exit_code == 0
    sql(app, "UPDATE log_pending SET event_hash = zeroblob(32)")
    result = audit(runner)
    assert result.exit_code == 1, result.output
    assert f"log_pending entry of event {event_id}: its hash differs" in result.output


# 4. Unreadable timestamps ----------------------------------------------------------------


@pytest.mark.parametrize("column", ["occurred_at", "recorded_at"])
def test_an_unreadable_timestamp_is_a_problem_of_its_event_not_a_crash(app, runner, db_url, column):
    if not db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's timestamptz cannot hold text that is not a time")
    cylinder, event = last_of_a_cylinder(app)
    sql(
        app,
        "DROP TRIGGER events_no_update",
        f"UPDATE events SET {column} = 'not a time' WHERE id = ?",
        params=(event.id,),
    )
    result = audit(runner)
    assert result.exit_code == 1, result.output
    assert f"event {event.id} (cylinder {cylinder.code}, #1): " in result.output
    assert f"{column} 'not a time' is not a timestamp" in result.output


@pytest.mark.parametrize("table", ["actors", "signing_keys"])
def test_an_unreadable_revocation_time_is_named_not_a_crash(app, runner, db_url, table):
    if not db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's timestamptz cannot hold text that is not a time")
    sql(
        app,
        f"UPDATE {table} SET revoked_at = 'not a time' "
        f"WHERE rowid = (SELECT min(rowid) FROM {table})",
    )
    result = audit(runner)
    assert result.exit_code == 1, result.output
    assert "revoked_at 'not a time' is not a timestamp" in result.output


@pytest.mark.parametrize("column", ["next_inspection_due", "end_of_life", "last_event_at"])
def test_an_unreadable_projection_time_is_a_difference_not_a_crash(app, runner, db_url, column):
    if not db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's date and timestamptz cannot hold text that is not a time")
    cylinder, _event = last_of_a_cylinder(app)
    sql(
        app,
        f"UPDATE cylinder_states SET {column} = 'not a time' WHERE cylinder_id = ?",
        params=(cylinder.id,),
    )
    result = audit(runner)
    assert result.exit_code == 1, result.output
    assert result.output.startswith("OK 账本完整:"), result.output  # the evidence is intact
    assert f"{cylinder.code} ({cylinder.id}): projection row differs" in result.output
    assert f"{column}: stored 'not a time'" in result.output


@pytest.mark.parametrize(
    ("statement", "named"),
    [
        ("UPDATE events SET hash = 'h' WHERE rowid = 1", "hash 'h' is not binary"),
        ("UPDATE events SET prev_hash = 'p' WHERE rowid = 2", "prev_hash 'p' is not binary"),
        ("UPDATE events SET signature = 's' WHERE rowid = 1", "signature 's' is not binary"),
        ("UPDATE events SET actor_id = 'who' WHERE rowid = 1", "actor_id 'who' is not a number"),
        ("UPDATE events SET payload = x'00ff' WHERE rowid = 1", "is not text"),
        ("UPDATE checkpoints SET size = 'abc'", "size 'abc' is not a number"),
        ("UPDATE checkpoints SET root = 'r'", "root 'r' is not binary"),
        ("UPDATE signing_keys SET public_key = 'zz'", "public_key 'zz' is not binary"),
    ],
)
def test_a_value_of_the_wrong_kind_is_named_not_a_crash(app, runner, db_url, statement, named):
    """SQLite keeps any value in any column: text where a hash belongs is a finding."""
    if not db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's columns hold only values of their type")
    sql(app, "DROP TRIGGER events_no_update", "DROP TRIGGER IF EXISTS checkpoints_no_update",
        statement)  # fmt: skip
    result = audit(runner)
    assert result.exit_code == 1, result.output
    assert "FAILED 审计未通过" in result.output and "the audit stopped" not in result.output
    assert named in result.output


def test_a_row_of_the_wrong_kind_is_one_problem_not_a_broken_chain_after_it(app, runner, db_url):
    if not db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's columns hold only values of their type")
    sql(app, "DROP TRIGGER events_no_update", "UPDATE events SET seq = 'one' WHERE rowid = 1")
    result = audit(runner)
    assert result.exit_code == 1, result.output
    assert "seq 'one' is not a number" in result.output
    assert "sequence number" not in result.output  # no link check quotes a stand-in value


def test_every_kind_of_problem_is_listed_beside_the_first_bad_event(app, runner, db_url):
    if not db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's columns hold only values of their type")
    sql(
        app,
        "DROP TRIGGER events_no_update",
        "DROP TRIGGER IF EXISTS checkpoints_no_update",
        "UPDATE events SET hash = 'h' WHERE rowid = 1",
        "UPDATE checkpoints SET size = 'abc'",
    )
    result = audit(runner)
    assert result.exit_code == 1, result.output
    first = next(line for line in result.output.splitlines() if line.startswith("first bad:"))
    assert "hash 'h' is not binary" in first  # an event is what an auditor looks up first
    assert "  also: checkpoint #1: 字段无法读取 size 'abc' is not a number" in result.output


@pytest.mark.parametrize(
    ("statements", "named"),
    [
        (
            ("UPDATE merkle_tiles SET level = 'x' WHERE rowid = 1",),
            "stored tree tile: 字段无法读取",
        ),
        (
            ("UPDATE cylinder_states SET state = x'ff' WHERE rowid = 1",),
            "state.(unreadable): stored",
        ),
    ],
)
def test_derived_rows_of_the_wrong_kind_are_named_not_a_crash(
    app, runner, db_url, statements, named
):
    if not db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's columns hold only values of their type")
    sql(app, *statements)
    result = audit(runner)
    assert result.exit_code == 1, result.output
    assert named in result.output and "the audit stopped" not in result.output


def test_a_waiting_event_whose_hash_is_text_is_named_not_a_crash(app, runner, db_url):
    register_one(app)  # pending, not integrated
    sql(
        app,
        "DROP TRIGGER events_no_update",
        "UPDATE events SET hash = 'h' WHERE id = (SELECT event_id FROM log_pending)",
    )
    result = audit(runner)
    assert result.exit_code == 1, result.output
    assert "hash 'h' is not binary" in result.output
    assert "the audit stopped" not in result.output


def test_an_audit_that_cannot_finish_says_the_ledger_is_not_verified(app, runner, monkeypatch):
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk I/O error\nat page 7")

    monkeypatch.setattr("app.audit_cli.audit", broken)
    result = audit(runner)
    assert result.exit_code == 1
    assert "the ledger is NOT verified: RuntimeError: disk I/O error at page 7" in result.output


# 5. Witnessed checkpoints -----------------------------------------------------------------


def backup(db_url: str, to: Path) -> None:
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as live, sqlite3.connect(to) as copy:
        live.backup(copy)


def restore(app: Any, db_url: str, source: Path) -> None:
    engine_of(app).dispose()
    with sqlite3.connect(source) as old, sqlite3.connect(db_url.removeprefix("sqlite:///")) as db:
        old.backup(db)


def demo_note(app: Any) -> str:
    with Session(engine_of(app)) as s:
        note = s.execute(select(Checkpoint.note).where(Checkpoint.size == 5)).scalar_one()
        return str(note)


def test_a_log_rolled_back_below_a_witnessed_checkpoint_fails(app, runner, db_url, tmp_path):
    if not db_url.startswith("sqlite"):
        pytest.skip("the rollback is a SQLite file restored from a copy")
    older = tmp_path / "older.sqlite3"
    backup(db_url, older)
    register_one(app)
    assert integrate_and_checkpoint(app)["status"] == "done"
    memory = Path(app.config["KEYS_DIR"]) / checkpoint_memory.FILE_NAME
    both = tmp_path / "regulator-notes.txt"
    both.write_text(demo_note(app) + "\n" + memory.read_text())  # two notes, a blank between

    for witness in (memory, both):
        good = audit(runner, "--witness", str(witness))
        assert good.exit_code == 0, good.output + good.stderr
        assert good.output == "OK 审计通过: 6 events, 6 leaves, 2 checkpoints verified\n"

    restore(app, db_url, older)  # deleted: the last event, its leaf, the checkpoint of 6
    assert audit(runner).output == DEMO_OK  # the database alone looks clean
    result = audit(runner, "--witness", str(memory))
    assert result.exit_code == 1, result.output
    assert result.output.startswith("FAILED 审计未通过: 1 problem(s) in 5 events")
    assert f"witness {memory} note 1 (size 6)" in result.output
    assert "the log has only 5 leaves" in result.output
    second = audit(runner, "--witness", str(both))
    assert second.exit_code == 1
    assert f"witness {both} note 2 (size 6)" in second.output
    assert "note 1 " not in second.output  # the note of size 5 is in the log


def test_a_rewritten_log_fails_against_a_witnessed_root(app, runner, tmp_path):
    rt = app.extensions["ledger"]
    forged = sign_checkpoint(CheckpointBody(ORIGIN, 5, b"\x07" * 32), rt.authority.server)
    witness = tmp_path / "witness.txt"
    witness.write_text(forged)
    result = audit(runner, "--witness", str(witness))
    assert result.exit_code == 1, result.output
    assert f"witness {witness} note 1 (size 5)" in result.output
    assert "differs from the root recomputed" in result.output


def _stranger_note() -> str:
    signer = signer_from_key(generate_signer_key(ORIGIN))
    return sign_checkpoint(CheckpointBody(ORIGIN, 5, b"\x07" * 32), signer)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "cannot read"),
        ("", "holds no checkpoint"),
        ("just some text\n", "note 1"),
        (b"\xff\xfe", "cannot read"),
        (_stranger_note(), "not signed by any known verifier"),
    ],
    ids=["missing", "empty", "garbage", "not-utf8", "stranger"],
)
def test_a_bad_witness_file_is_one_line_and_exit_2(app, runner, tmp_path, content, says):
    witness = tmp_path / "witness.txt"
    if isinstance(content, bytes):
        witness.write_bytes(content)
    elif content is not None:
        witness.write_text(content)
    result = audit(runner, "--witness", str(witness))
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    line = result.stderr.rstrip("\n")
    assert "\n" not in line
    assert line.startswith(f"见证检查点文件有误 bad witness file {witness}")
    assert says in line


def test_witness_notes_are_split_as_signed_whatever_the_spacing(app):
    rt = app.extensions["ledger"]
    notes = [
        sign_checkpoint(CheckpointBody(ORIGIN, size, bytes([size]) * 32), rt.authority.server)
        for size in (1, 2, 3)
    ]
    assert split_notes(notes[0]) == notes[:1]  # the last-checkpoint file: one note
    assert split_notes("\n" + notes[0] + "\n\n" + notes[1] + notes[2] + "\n") == notes
    assert split_notes(notes[0].replace("\n", "\r\n")) == notes[:1]


# 6. Leaves no checkpoint signs -------------------------------------------------------------


def test_leaves_beyond_the_last_checkpoint_are_a_warning(app, runner):
    register_one(app)
    assert runner.invoke(args=["ledger", "integrate"]).exit_code == 0
    result = audit(runner)
    assert result.exit_code == 0, result.output
    assert result.output == (
        "OK 审计通过: 6 events, 6 leaves, 1 checkpoints verified\n"
        "注意 unsigned: 1 leaves are not yet covered by any checkpoint\n"
    )


def test_a_log_without_any_checkpoint_is_a_warning_not_a_failure(app, runner):
    sql(app, "DROP TRIGGER checkpoints_no_delete", "DELETE FROM checkpoints")
    result = audit(runner)
    assert result.exit_code == 0, result.output
    assert result.output == (
        "OK 审计通过: 5 events, 5 leaves, 0 checkpoints verified\n"
        "注意 unsigned: 5 leaves are not yet covered by any checkpoint\n"
    )


# 7. The audit never creates a key ----------------------------------------------------------


def test_the_audit_never_creates_a_key_file(db_url, tmp_path):
    keys = tmp_path / "keys"
    fresh = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": db_url,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "KEYS_DIR": str(keys),
            "PUBLIC_BASE_URL": "https://ledger.test",
            "LEDGER_ORIGIN": ORIGIN,
        }
    )
    try:
        runner = fresh.test_cli_runner()
        refused = audit(runner)
        assert refused.exit_code == 2 and refused.stdout == ""
        assert (
            refused.stderr
            == f"未找到服务器密钥 no server key at {keys / SERVER_KEY_FILE}; pass --key\n"
        )
        assert not keys.exists()
        stranger = verifier_key_for(signer_from_key(generate_signer_key(ORIGIN)))
        given = audit(runner, "--key", stranger)
        assert given.output == "OK 审计通过: 0 events, 0 leaves, 0 checkpoints verified\n"
        assert not keys.exists()
        # Every other command still creates the keys on first use.
        assert runner.invoke(args=["ledger", "checkpoint"]).exit_code == 0
        assert (keys / SERVER_KEY_FILE).exists()
        own = audit(runner)
        assert own.output == "OK 审计通过: 0 events, 0 leaves, 1 checkpoints verified\n"
        with Session(fresh.extensions["ledger"].engine) as s:
            assert log.latest_checkpoint(s) is not None
    finally:
        fresh.extensions["ledger"].engine.dispose()
