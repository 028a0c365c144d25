"""Run by tests/unit/test_leak_origin.py in a pytest of its own (not collected otherwise):
the first test leaves a PostgreSQL connection open, the second collects it."""

from __future__ import annotations

import gc
import os

from sqlalchemy import create_engine, text


def test_leaves_a_connection_open() -> None:
    url = os.environ["TEST_DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(url)
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    # the engine is dropped undisposed: its pooled connection stays open until collected


def test_collects_it() -> None:
    gc.collect()
