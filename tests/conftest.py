"""Fixtures: a migrated database on SQLite, and on PostgreSQL when TEST_DATABASE_URL is set."""

from __future__ import annotations

import datetime as dt
import functools
import gc
import json
import os
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from ledger.store import make_engine, upgrade
from tests import leak_origin
from tests.pg_pool import DatabasePool, close_all
from tests.seeded import Snapshot, Snapshots, app_config, fold_wal, seed_into
from tests.url_builders import install as compile_url_builders_once

compile_url_builders_once()  # ~25 of the ~40 ms of each create_app (tests/url_builders.py)
leak_origin.install()  # an unclosed psycopg connection's warning says who opened it

PG_URL = os.environ.get("TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


# The files that take longest (tens of seconds: crashes and kill -9, the fuzzer, property
# tests, the demo's year, browser flows), from ``--durations``: collected first, so that
# ``make test``'s workers (``--dist loadfile``) take them early and end together, instead
# of one worker running the last of them while the other waits.
SLOW_FIRST = (
    "tests/reliability/test_crash_answer.py", "tests/integration/test_ledger_properties.py",
    "tests/security/test_schemathesis.py", "tests/pages/test_driver_review_fixes.py",
    "tests/integration/test_demo.py", "tests/reliability/test_crash.py",
    "tests/pages/test_browser.py", "tests/labels/test_label_rerun.py",
    "tests/pages/test_driver_customers.py", "tests/production/test_observability.py",
    "tests/reliability/test_full_disk.py", "tests/production/test_cli_input.py",
)  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


_LEAK_HUNT = os.environ.get("LEAK_HUNT") == "1"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """Fail the test during which a PostgreSQL connection was collected open, naming the
    test and code that opened it (tests/leak_origin.py)."""
    result = yield
    if _LEAK_HUNT and (nextitem is None or nextitem.path != item.path):
        gc.collect()  # at the end of each file: a leak is found in the file that made it
    if leaks := leak_origin.take_leaks():
        raise ResourceWarning("\n".join(leaks))
    return result


def _pg_schema_url(schema: str) -> str:
    assert PG_URL is not None
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per run, its WAL folded in: each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "ledger.sqlite3"
    upgrade(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def _pg_admin() -> Engine:
    assert PG_URL is not None
    return create_engine(
        PG_URL.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )


def _pg_database_url(database: str) -> str:
    assert PG_URL is not None
    parts = urlsplit(PG_URL)
    return urlunsplit(parts._replace(path=f"/{database}"))


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A PostgreSQL database migrated once per run: each test gets a copy of its own.

    ``CREATE DATABASE … TEMPLATE`` copies it in a fraction of what running the migrations
    for every test cost (about 0.1 s against 0.3–0.4 s).
    """
    name = f"tmpl_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        upgrade(_pg_database_url(name))
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_pools(pg_template: str) -> Iterator[dict[str, DatabasePool]]:
    """Per template, copies made ahead and dropped behind the tests (tests/pg_pool.py)."""
    pools: dict[str, DatabasePool] = {}
    try:
        yield pools
    finally:
        close_all(pool.close for pool in pools.values())


def _pool(request: pytest.FixtureRequest, template: str) -> DatabasePool:
    pools: dict[str, DatabasePool] = request.getfixturevalue("pg_pools")
    if template not in pools:
        pools[template] = DatabasePool(_pg_admin(), template)
    return pools[template]


@pytest.fixture(scope="session")
def snapshots(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The demo registry seeded once per backend (and day), for ``app`` to copy."""
    seeded_templates: list[str] = []

    def make(backend: str) -> Snapshot:
        root = tmp_path_factory.mktemp("seeded")
        if backend == "sqlite":
            path = root / "ledger.sqlite3"
            shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
            seed_into(f"sqlite:///{path}", root).extensions["ledger"].engine.dispose()
            fold_wal(path)
            return Snapshot(str(path), root)
        name = f"seeded_{uuid.uuid4().hex[:12]}"
        admin = _pg_admin()
        with admin.connect() as conn:
            conn.execute(
                text(f"CREATE DATABASE {name} TEMPLATE {request.getfixturevalue('pg_template')}")
            )
        admin.dispose()
        seeded_templates.append(name)
        seed_into(_pg_database_url(name), root).extensions["ledger"].engine.dispose()
        return Snapshot(name, root)

    # The pools outlive this fixture: a seeded template's own pool is closed below, first.
    pools: dict[str, DatabasePool] = request.getfixturevalue("pg_pools") if PG_URL else {}
    yield Snapshots(make)

    def drop(name: str) -> None:
        admin = _pg_admin()
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()

    steps = []
    for name in seeded_templates:
        if name in pools:
            steps.append(pools.pop(name).close)
        steps.append(functools.partial(drop, name))
    close_all(steps)


_SEEDED: dict[str, Snapshot] = {}  # a test database that is a copy of a snapshot → it


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated database: a SQLite file, or a PostgreSQL database of its own; for a
    test using ``app``, one with the demo registry seeded (a copy of ``snapshots``).

    A test database commits without waiting for the disk (``synchronous_commit = off``):
    no test outlives a crash of the PostgreSQL server, and with two test workers creating
    databases, the commits waiting on the one disk were about 40 % of the suite's time
    (11 min 03 s → 6 min 18 s, ``make test`` with PostgreSQL, 2026-12-04).
    """
    snapshot = None
    if "app" in request.fixturenames:
        snapshot = request.getfixturevalue("snapshots").get(request.param)
    if request.param == "sqlite":
        path = tmp_path / "ledger.sqlite3"
        source = snapshot.database if snapshot else request.getfixturevalue("sqlite_template")
        shutil.copyfile(source, path)
        url = f"sqlite:///{path}"
        pool = None
    else:
        pool = _pool(
            request, snapshot.database if snapshot else request.getfixturevalue("pg_template")
        )
        url = _pg_database_url(name := pool.take())
    if snapshot is not None:
        _SEEDED[url] = snapshot
    try:
        yield url
    finally:
        _SEEDED.pop(url, None)
        if pool is not None:
            pool.give_back(name)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def app(db_url: str, tmp_path: Path) -> Iterator[Any]:
    """The application on the test database, with the demo seeded (copied from a snapshot
    made once, when ``db_url`` is one; otherwise seeded here)."""
    from app import create_app

    snapshot = _SEEDED.get(db_url)
    if snapshot is not None:
        snapshot.copy_directories(tmp_path)
        application = create_app(app_config(db_url, tmp_path))
    else:
        application = seed_into(db_url, tmp_path)
    yield application
    application.extensions["ledger"].close()  # its integrator thread first, if it has one


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def runner(app: Any) -> Any:
    return app.test_cli_runner()


@pytest.fixture
def demo(app: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((Path(app.instance_path) / "demo.json").read_text())
    return doc


def bearer(token: str) -> dict[str, str]:
    """Authorization header for a demo token."""
    return {"Authorization": f"Bearer {token}"}


def cylinder_body(**overrides: Any) -> dict[str, Any]:
    """A valid registration body (a 15 kg YSP35.5 made in 2022)."""
    body: dict[str, Any] = {
        "serial": f"T{uuid.uuid4().hex[:10].upper()}",
        "manufacturer": "浙江金盾压力容器有限公司",
        "manufactured_on": "2022-05-01",
        "model": "YSP35.5",
        "capacity_kg": 15.0,
        "tare_kg": 16.8,
        "dual_phase": False,
        "last_inspected_on": None,
    }
    body.update(overrides)
    return body


NOW = dt.datetime(2026, 11, 23, 6, 0, tzinfo=dt.UTC)
