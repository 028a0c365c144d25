"""Closing an engine for good closes a connection still in use when it is given back
(ledger.store.close_engine): a plain dispose leaves it open in the pool it drops, until
the garbage collector finds it (tests/leak_origin.py reports those)."""

from __future__ import annotations

import gc
import os

import pytest
from sqlalchemy import create_engine, text

from ledger.store import close_engine
from tests import leak_origin

PG_URL = os.environ.get("TEST_DATABASE_URL")
pytestmark = pytest.mark.skipif(not PG_URL, reason="psycopg's connections (PostgreSQL)")
THIS_FILE = "tests/integration/test_close_engine.py::"


@pytest.mark.parametrize("close", [close_engine, lambda engine: engine.dispose()])
def test_a_connection_in_use_at_close_is_closed_when_given_back(close: object) -> None:
    assert PG_URL is not None and callable(close)
    engine = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    in_use = engine.connect()
    in_use.execute(text("SELECT 1"))
    close(engine)
    in_use.close()  # given back after the close: to the pool the engine dropped
    with engine.connect() as conn:  # the engine still works, on a fresh pool
        assert conn.execute(text("SELECT 1")).scalar_one() == 1
    engine.dispose()
    del engine, in_use
    gc.collect()
    leaked = leak_origin.take_leaks(of=THIS_FILE)
    assert len(leaked) == (0 if close is close_engine else 1)  # dispose alone: the leak
