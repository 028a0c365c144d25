"""A PostgreSQL connection collected open fails the running test, naming who opened it."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests import leak_origin

PG_URL = os.environ.get("TEST_DATABASE_URL")
pytestmark = pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL (TEST_DATABASE_URL)")
ROOT = Path(__file__).resolve().parents[2]
THIS_FILE = "tests/unit/test_leak_origin.py::"


def _open_and_forget() -> None:
    assert PG_URL is not None
    engine = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    # the engine is dropped undisposed: its pooled connection stays open until collected


def test_a_connection_collected_open_is_reported_with_its_test_and_caller() -> None:
    leak_origin.install()  # conftest did; installing again changes nothing
    _open_and_forget()
    gc.collect()
    message = "\n".join(leak_origin.take_leaks(of=THIS_FILE))  # the teardown sees none
    assert message.startswith("a PostgreSQL connection was collected still open")
    assert "test_a_connection_collected_open_is_reported_with_its_test_and_caller (call)" in message
    assert "tests/unit/test_leak_origin.py" in message and "_open_and_forget" in message


def test_a_closed_connection_is_collected_quietly() -> None:
    assert PG_URL is not None
    engine = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    engine.dispose()
    del engine
    gc.collect()
    assert leak_origin.take_leaks(of=THIS_FILE) == []  # another test's stay reported


def test_the_suite_fails_the_test_that_collected_it_naming_the_opener() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         "tests/unit/leaky_case.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "CI": "1"},  # summary lines whole, as on the project's CI
    )  # fmt: skip
    out = run.stdout
    assert run.returncode == 1, out
    assert "2 passed, 1 error" in out, out
    summary = next(line for line in out.splitlines() if line.startswith("ERROR "))
    assert "leaky_case.py::test_collects_it" in summary
    assert "ResourceWarning: a PostgreSQL connection was collected still open" in summary
    opener = "opened during tests/unit/leaky_case.py::test_leaves_a_connection_open (call)"
    assert opener in summary
