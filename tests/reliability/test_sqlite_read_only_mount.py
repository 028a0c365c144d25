"""A SQLite database on a file system mounted read-only, then writable again, under a real
gunicorn (2 workers × 4 threads): reads go on, writes answer 503, and once the file system
is writable the writes succeed again without a restart.

SQLite shares a file's ``-shm`` mapping among all the connections of one process: while
one connection opened during the read-only time is still open (pooled, or closed but kept
alive by an exception's traceback), every connection opened later is read-only too. Only
a real read-only mount shows this (``PRAGMA query_only`` is per connection), so this test
mounts a small tmpfs and needs the right to (root with CAP_SYS_ADMIN); it skips without.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.reliability.server import ROOT, Server, flask, seed, server_env

BODY = {"type": "reported", "payload": {"kind": "label_damaged"}}


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Any:
    where = tmp_path / "fs"
    where.mkdir()
    if _mount("-t", "tmpfs", "-o", "size=64m", "tmpfs", str(where)).returncode != 0:
        pytest.skip("mounting a tmpfs needs root with CAP_SYS_ADMIN")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=30)


def _remount(where: Path, mode: str) -> None:
    """Remount ``ro`` or ``rw``, once the killed workers have let go of their files."""
    for _ in range(50):
        done = _mount("-o", f"remount,{mode}", str(where))
        if done.returncode == 0:
            return
        time.sleep(0.1)
    raise AssertionError(done.stderr)


def _handles(server: Server, path: Path) -> list[int]:
    """How many open handles each of the server's workers has on the file at ``path``."""
    assert server.proc is not None
    workers = subprocess.run(
        ["pgrep", "-P", str(server.proc.pid)], capture_output=True, text=True, timeout=10
    ).stdout.split()
    counts = []
    for pid in workers:
        fds = Path(f"/proc/{pid}/fd")
        counts.append(sum(1 for fd in fds.iterdir() if str(fd.resolve()) == str(path)))
    return counts


def _post(url: str, token: str, code: str, key: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
    return httpx.post(
        f"{url}/api/v1/cylinders/{code}/events", json=BODY, headers=headers, timeout=30
    )


def _events(url: str, demo: dict[str, Any], code: str) -> list[str]:
    headers = {"Authorization": f"Bearer {demo['tokens']['regulator']}"}
    resp = httpx.get(f"{url}/api/v1/cylinders/{code}/events", headers=headers, timeout=30)
    assert resp.status_code == 200, resp.text
    return [e["id"] for e in resp.json()["events"]]


def test_writes_come_back_without_a_restart_once_the_file_system_is_writable(
    tmp_path: Path, tmpfs: Path
) -> None:
    env = server_env(f"sqlite:///{tmpfs / 'ledger.sqlite3'}", tmp_path)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "prometheus")  # as the units set it
    (tmp_path / "prometheus").mkdir()
    flask(env, "db", "upgrade")
    demo = seed(env)
    token = demo["tokens"]["driver_a"]
    code = demo["cylinders"]["legal"]
    # The deploy settings' hooks: the workers' start-up objects are frozen out of the
    # collector's passes, as in production, and the recovery's collection must still work.
    server = Server(env, tmp_path, config=ROOT / "gunicorn.conf.py")
    server.start()
    try:
        assert _post(server.url, token, code, "before").status_code == 201
    finally:
        server.kill()  # as a crash leaves it: the -wal and -shm files stay
    _remount(tmpfs, "ro")
    server.start()  # every connection of both workers opens read-only
    try:
        before = _events(server.url, demo, code)  # reads work read-only
        for i in range(40):  # refusals in every thread of both workers, and reads between
            resp = _post(server.url, token, code, f"ro-{i}")
            assert resp.status_code == 503, resp.text
            assert resp.json()["detail"].startswith("数据库文件无法写入")
            assert _events(server.url, demo, code) == before
        # No handle left behind a refusal (it was ~1 a refused write: a dropped connection's
        # handle stays open while the process holds locks on the file).
        assert max(_handles(server, tmpfs / "ledger.sqlite3")) <= 16
        _remount(tmpfs, "rw")
        answers = []
        for i in range(8):  # each write once, as a station sends it: every one recorded
            answers.append(_post(server.url, token, code, f"ro-{i}").status_code)
            _events(server.url, demo, code)
        assert answers == [201] * 8, answers
        assert len(_events(server.url, demo, code)) == len(before) + 8
    finally:
        server.kill()


def _write(engine: Any) -> bool:
    """One insert; whether SQLite accepted it."""
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))
    except OperationalError as exc:
        assert "readonly" in str(exc.orig), exc
        return False
    return True


def test_a_connection_in_use_when_it_becomes_writable_does_not_keep_new_ones_read_only(
    tmpfs: Path,
) -> None:
    """A connection opened read-only and still in use (a long read) when the file system
    becomes writable: once it is back in the pool, the next connection to open closes it
    first, so that connection writes."""
    import sys

    from sqlalchemy import text

    from ledger.store import make_engine

    db = tmpfs / "t.sqlite3"
    made = "import sqlite3, os; c = sqlite3.connect(os.environ['DB'], isolation_level=None); "
    made += "c.execute('PRAGMA journal_mode=WAL'); c.execute('CREATE TABLE t (x)'); os._exit(0)"
    subprocess.run([sys.executable, "-c", made], env={"DB": str(db)}, check=True, timeout=30)
    _remount(tmpfs, "ro")
    engine = make_engine(f"sqlite:///{db}")
    try:
        reading = engine.connect()  # opened read-only, and kept in use
        reading.execute(text("SELECT count(*) FROM t")).scalar_one()
        _remount(tmpfs, "rw")
        _write(engine)  # may be refused: the connection in use holds the read-only mapping
        reading.close()  # back in the pool, idle
        assert _write(engine)
        assert _write(engine)
    finally:
        engine.dispose()
