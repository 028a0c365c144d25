"""A database that answers but holds no ledger (``db upgrade`` never run, or DATABASE_URL
naming the wrong database): the load balancer's probe and every route answer 503
problem+json saying what to do (a page address, a page saying it), on either backend;
never a 500 (PostgreSQL's "undefined table" is not a connection error) nor "database
unavailable" (SQLite's was)."""

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
    if path.startswith("/c/"):  # a restaurant's phone: a page, in the page's language
        page = resp.get_data(as_text=True)
        assert resp.mimetype == "text/html" and "数据库没有账本的表" in page
        assert "db upgrade" in page and "has no ledger tables" not in page
        return
    assert resp.content_type == "application/problem+json"
    assert "db upgrade" in resp.get_json()["detail"]


def test_any_other_sql_error_is_the_apps_own_500(app: Any) -> None:
    from sqlalchemy.exc import ProgrammingError

    def broken() -> Any:  # as a statement with a typo would fail
        raise ProgrammingError("SELEC 1", {}, Exception('syntax error at or near "SELEC"'))

    app.add_url_rule("/api/v1/scratch-sql-error", "scratch_api", broken)
    app.add_url_rule("/scratch-sql-error", "scratch_page", broken)
    client = app.test_client()
    resp = client.get("/api/v1/scratch-sql-error")
    assert resp.status_code == 500 and resp.content_type == "application/problem+json"
    assert resp.get_json()["detail"] == "an unexpected error; nothing was recorded"
    resp = client.get("/scratch-sql-error?x=1")
    page = resp.get_data(as_text=True)  # a person's page: a page, never JSON as text
    assert resp.status_code == 500 and resp.mimetype == "text/html"
    assert "<h1>服务器出错，本次操作未记录</h1>" in page and "Traceback" not in page
    assert 'href="/scratch-sql-error?x=1"' in page  # try again
