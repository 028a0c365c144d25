"""Whether a SQLite database may be written, as the operating system answers it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import create_engine

from ledger.sqlite_reopen import file_writable


def _file(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.sqlite3"
    sqlite3.connect(path).close()
    return path


def test_a_file_in_a_writable_folder_may_be_written(tmp_path: Path) -> None:
    path = _file(tmp_path)
    assert file_writable(create_engine(f"sqlite:///{path}"))


def test_a_uri_filename_is_the_file_it_names(tmp_path: Path) -> None:
    path = _file(tmp_path)
    assert file_writable(create_engine(f"sqlite:///file:{path}?uri=true"))
    assert not file_writable(create_engine(f"sqlite:///file:{path}?mode=ro&uri=true"))
    assert not file_writable(create_engine(f"sqlite:///file:{path}?immutable=1&uri=true"))


def test_memory_and_a_missing_folder_may_not(tmp_path: Path) -> None:
    assert not file_writable(create_engine("sqlite://"))
    assert not file_writable(create_engine("sqlite:///:memory:"))
    assert not file_writable(create_engine(f"sqlite:///{tmp_path / 'gone' / 'x.sqlite3'}"))
