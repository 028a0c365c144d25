"""Fixes after a review of the commands' bad input: settings no command could start with are
one line naming them, a keys folder without the keys a ledger already holds signatures of
creates no new ones, and a database without the ledger's tables says so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app import create_app
from app.jobs import integrate_and_checkpoint
from ledger.settings import ConfigError, check_environment
from tests.production.test_cli_input import run_flask
from tests.seeded import app_config


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("DATABASE_URL", "", "DATABASE_URL 不是数据库地址 / is not a database URL: ''"),
        ("DATABASE_URL", "garbage", "is not a database URL: 'garbage'"),
        ("DATABASE_URL", "postgres://u@db/ledger", "must begin postgresql://, not postgres://"),
        ("DATABASE_URL", "mysql://u:hunter22@db/ledger", "names a database this service cannot"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL 须为 DEBUG、INFO、WARNING、ERROR、CRITICAL 之一"),
        ("LEDGER_ORIGIN", "my ledger", "LEDGER_ORIGIN 不能用作检查点密钥名"),
        ("LEDGER_KEYS_DIR", " ", "LEDGER_KEYS_DIR 不能为空"),
        ("RATELIMIT_ENABLED", "enabled", "RATELIMIT_ENABLED 须为 1/true/yes/on 或 0/false/no/off"),
        ("INTEGRATE_AFTER_WRITE", "sometimes", "INTEGRATE_AFTER_WRITE 须为 1、background 或 0"),
    ],
)
def test_a_setting_no_command_can_start_with_is_refused_naming_it(
    name: str, value: str, says: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        check_environment({name: value})
    assert says in str(refused.value) and "hunter22" not in str(refused.value)


def test_a_refused_setting_is_one_line_and_starts_nothing(tmp_path: Path) -> None:
    done = run_flask(tmp_path, "ledger", "checkpoint", DATABASE_URL="mysql://u:hunter22@db/l")
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("配置错误 / configuration error: DATABASE_URL 的数据库不受支持")
    assert "hunter22" not in done.stderr  # a password in the URL is not repeated
    assert not (tmp_path / "keys").exists()


def test_keys_are_not_made_anew_for_a_ledger_that_holds_their_signatures(
    app: Any, tmp_path: Path
) -> None:
    assert integrate_and_checkpoint(app)["status"] == "done"
    keys = Path(app.config["KEYS_DIR"])
    # A mistyped keys folder: neither key is made, nothing is signed.
    wrong = tmp_path / "keys-typo"
    done = _checkpoint_with_keys(app, wrong)
    assert done.exit_code == 1, done.output
    assert f"密钥目录 {wrong} 中没有 server.key, registry.key" in done.output
    assert "no new key was created" in done.output and not wrong.exists()
    # The checkpoint key restored, the registry's (which signed the labels) not.
    half = tmp_path / "keys-half"
    half.mkdir()
    (half / "server.key").write_bytes((keys / "server.key").read_bytes())
    done = _checkpoint_with_keys(app, half)
    assert done.exit_code == 1 and f"{half} 中没有 registry.key" in done.output, done.output
    assert sorted(p.name for p in half.iterdir()) == ["server.key"]
    # The real folder still signs.
    assert _checkpoint_with_keys(app, keys).exit_code == 0


def _checkpoint_with_keys(app: Any, keys: Path) -> Any:
    other = create_app({**app.config, "KEYS_DIR": str(keys)})
    try:
        return other.test_cli_runner().invoke(args=["ledger", "checkpoint"])
    finally:
        other.extensions["ledger"].engine.dispose()


def test_a_database_without_the_ledger_s_tables_says_so(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "ledger-typo.sqlite3"  # a mistyped SQLite path
    typo = create_app(app_config(f"sqlite:///{path}", tmp_path))
    runner = typo.test_cli_runner()
    try:
        job = runner.invoke(args=["jobs", "once", "integrate"])  # its file lock: none beside
        done = runner.invoke(args=["ledger", "checkpoint"])
        for result in (job, done):
            assert result.exit_code == 1, result.output
            assert f"no such database file: {path}" in result.output
        assert (
            "数据库中没有账本的表" in done.output and "flask --app wsgi db upgrade" in done.output
        )
        assert "unreachable" not in done.output
        page = typo.test_client().get("/c/ABC123")
        assert page.status_code == 503 and "数据库没有账本的表" in page.get_data(as_text=True)
        assert list(folder.iterdir()) == []  # no empty database, no lock folder left behind
        assert runner.invoke(args=["db", "upgrade"]).exit_code == 0  # the one that makes it
        assert runner.invoke(args=["ledger", "checkpoint"]).exit_code == 0
    finally:
        typo.extensions["ledger"].engine.dispose()


def test_an_instance_folder_the_service_cannot_use_is_refused(tmp_path: Path) -> None:
    taken = tmp_path / "a-file"
    taken.write_text("")
    with pytest.raises(ConfigError) as refused:
        create_app({"INSTANCE_PATH": str(taken)})
    assert f"LEDGER_INSTANCE 文件夹无法使用 / cannot use the instance folder {taken}" in str(
        refused.value
    )


def test_a_switch_reads_the_words_people_write() -> None:
    from ledger.settings import switch

    for word, on in [("1", True), ("TRUE", True), ("yes", True), (" On ", True), ("0", False),
                     ("false", False), ("No", False), ("off", False)]:  # fmt: skip
        assert switch({"X": word}, "X", not on) is on
    assert switch({"X": " "}, "X", True) is True and switch({}, "X", False) is False


def test_a_demo_document_that_cannot_be_read_is_said_so(app: Any, runner: Any) -> None:
    out = Path(app.instance_path) / "demo.json"
    for broken in ("{", "[]", '{"tokens": 1}'):
        out.write_text(broken)
        done = runner.invoke(args=["demo", "seed", "--small"])
        assert done.exit_code == 1, done.output
        assert f"{out} 无法读取 / cannot be read" in done.output
    out.unlink()
    done = runner.invoke(args=["demo", "seed", "--small"])
    assert done.exit_code == 1 and "演示数据已存在，但缺少" in done.output


def test_a_database_migrated_by_a_newer_version_is_said_so(app: Any, runner: Any) -> None:
    from sqlalchemy import text

    engine = app.extensions["ledger"].engine
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'ffffffff0000'"))
    done = runner.invoke(args=["db", "upgrade"])
    assert done.exit_code == 1, done.output
    assert "数据库的迁移版本 ffffffff0000 不为本程序所知" in done.output
    assert "it was migrated by a newer version" in done.output


def test_an_actor_id_past_the_database_s_range_is_refused_by_the_option(runner: Any) -> None:
    done = runner.invoke(
        args=["people", "set-password", "x", "--actor", "9" * 23, "--password", "0123456789ab"]
    )
    assert done.exit_code == 2 and "is not in the range 1<=x<=2147483647" in done.output
