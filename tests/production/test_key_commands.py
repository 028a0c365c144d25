"""The checkpoint key's rotation by command (docs/deploy.md §9): a new key beside the one in
use, its verifier key to publish first, never a key overwritten, then the swap."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

from app import create_app
from ledger.keys import SERVER_KEY_FILE
from ledger.note import signer_from_key, verifier_key_for


def _rt(app: Any) -> Any:
    return app.extensions["ledger"]


def test_a_new_key_is_written_beside_never_over_and_its_verifier_key_printed(
    app: Any, runner: Any
) -> None:
    rt = _rt(app)
    path = rt.keys_dir / "server.key.new"
    made = runner.invoke(args=["ledger", "new-key", str(path)])
    assert made.exit_code == 0, made.output
    signer = signer_from_key(path.read_text().strip())
    assert signer.name == rt.origin and stat.S_IMODE(path.stat().st_mode) == 0o600
    printed = made.stdout.strip()
    assert printed == verifier_key_for(signer)
    assert printed != app.test_client().get("/api/v1/ledger/key").get_data(as_text=True).strip()
    shown = runner.invoke(args=["ledger", "verifier-key", str(path)])
    assert shown.exit_code == 0 and shown.stdout.strip() == printed
    kept = path.read_text()
    again = runner.invoke(args=["ledger", "new-key", str(path)])
    assert again.exit_code == 1 and "already exists" in again.output
    assert path.read_text() == kept  # the key whose verifier was published stays


def test_after_the_swap_the_server_serves_the_published_key(
    app: Any, runner: Any, db_url: str, tmp_path: Path
) -> None:
    rt = _rt(app)
    new = rt.keys_dir / "server.key.new"
    published = runner.invoke(args=["ledger", "new-key", str(new)]).stdout.strip()
    new.replace(rt.keys_dir / SERVER_KEY_FILE)
    restarted = create_app({**app.config, "TESTING": True})
    try:
        served = restarted.test_client().get("/api/v1/ledger/key").get_data(as_text=True)
        assert served.strip() == published
    finally:
        _rt(restarted).engine.dispose()


def test_a_key_file_that_is_not_the_servers_is_one_line(app: Any, runner: Any) -> None:
    other = _rt(app).keys_dir / "other.key"
    other.write_text("garbage\n")
    result = runner.invoke(args=["ledger", "verifier-key", str(other)])
    assert result.exit_code == 1 and "bad server key file" in result.output
    missing = runner.invoke(args=["ledger", "new-key", str(other.parent / "no" / "such.key")])
    assert missing.exit_code == 1 and "system error" in missing.output
