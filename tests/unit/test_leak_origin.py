"""An unclosed psycopg connection's warning names the test and the code that opened it."""

from __future__ import annotations

import gc
import os
import warnings

import pytest
from sqlalchemy import create_engine, text

from tests import leak_origin

PG_URL = os.environ.get("TEST_DATABASE_URL")
pytestmark = pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL (TEST_DATABASE_URL)")


def _open_and_forget() -> None:
    assert PG_URL is not None
    engine = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    # the engine is dropped undisposed: its pooled connection stays open until collected


def test_a_connection_collected_open_names_its_test_and_caller() -> None:
    leak_origin.install()  # conftest did; installing again changes nothing
    _open_and_forget()
    with pytest.warns(ResourceWarning) as caught:
        gc.collect()
    message = "\n".join(str(w.message) for w in caught)
    assert "was deleted while still open" in message
    assert "test_a_connection_collected_open_names_its_test_and_caller (call)" in message
    assert "tests/unit/test_leak_origin.py" in message and "_open_and_forget" in message


def test_a_closed_connection_is_collected_quietly() -> None:
    assert PG_URL is not None
    engine = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    engine.dispose()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        del engine
        gc.collect()
