"""A database that answers but holds no ledger (``db upgrade`` never run, or DATABASE_URL
naming the wrong database): the load balancer's probe and every route answer 503
problem+json saying what to do, on either backend; never a 500 (PostgreSQL's "undefined
table" is not a connection error) nor "database unavailable" (SQLite's was)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BACKENDS
from tests.partition_ledger import pg_schema
from tests.seeded import app_config


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    with pg_schema() as url:
        yield url


@pytest.mark.parametrize("path", ["/healthz", "/api/v1/ledger/checkpoint", "/c/LPG12345678"])
def test_a_database_without_the_ledger_is_named_as_such(
    empty_url: str, tmp_path: Path, path: str
) -> None:
    from app import create_app

    app: Any = create_app({**app_config(empty_url, tmp_path), "TESTING": False})
    try:
        resp = app.test_client().get(path)
    finally:
        app.extensions["ledger"].engine.dispose()
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "30"  # not the limiter's
    assert resp.content_type == "application/problem+json"
    assert "db upgrade" in resp.get_json()["detail"]


def test_any_other_sql_error_is_the_apps_own_500(app: Any) -> None:
    from sqlalchemy.exc import ProgrammingError

    @app.get("/scratch-sql-error")
    def broken() -> Any:  # as a statement with a typo would fail
        raise ProgrammingError("SELEC 1", {}, Exception('syntax error at or near "SELEC"'))

    resp = app.test_client().get("/scratch-sql-error")
    assert resp.status_code == 500 and resp.content_type == "application/problem+json"
    assert resp.get_json()["detail"] == "an unexpected error; nothing was recorded"
