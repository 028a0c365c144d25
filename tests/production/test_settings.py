"""A setting the service cannot run with stops its start with one clear line naming the
setting and what it must be: in the web (gunicorn's master, before any worker) and in every
``flask`` command; never a traceback, never a job failing at night on it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ledger.settings import WHOLE_NUMBERS, ConfigError, check_environment, whole_number

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", sorted(WHOLE_NUMBERS))
def test_each_whole_number_has_its_default_and_takes_its_range(name: str) -> None:
    default, low, high = WHOLE_NUMBERS[name]
    assert whole_number({}, name) == default
    assert whole_number({name: "  "}, name) == default  # blank: unset
    assert whole_number({name: f" {low} "}, name) == low
    assert whole_number({name: str(high)}, name) == high
    for bad in (str(low - 1), str(high + 1), "abc", "1.5", "1e3", "1_000", "１２", "٣", "9" * 40):
        with pytest.raises(ConfigError, match=name) as refused:
            whole_number({name: bad}, name)
        assert f"from {low} to {high}" in str(refused.value)


def test_the_environment_check_names_the_first_bad_setting() -> None:
    check_environment({})  # the defaults start
    with pytest.raises(ConfigError, match="OWNER_DELIVERY_KEEP_DAYS"):
        check_environment({"OWNER_DELIVERY_KEEP_DAYS": "-1"})
    with pytest.raises(ConfigError, match="LEDGER_TIMEZONE"):
        check_environment({"LEDGER_TIMEZONE": "Mars/Olympus"})
    with pytest.raises(ConfigError, match=r"WEB_CONCURRENCY .*must not be blank"):
        check_environment({"WEB_CONCURRENCY": " "})  # gunicorn itself stops on it


def _env(tmp_path: Path, **settings: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.sqlite3'}",
        "LEDGER_KEYS_DIR": str(tmp_path / "keys"),
        "LEDGER_INSTANCE": str(tmp_path / "instance"),  # not the checkout's own instance/
        "GUNICORN_BIND": "127.0.0.1:0",
        "WEB_CONCURRENCY": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"),
        **settings,
    }


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("STALE_DAYS", "abc"), ("PROXY_HOPS", "-1"), ("LEDGER_TIMEZONE", "Mars/Olympus"),
        ("WEB_THREADS", "99"), ("WEB_CONCURRENCY", "abc"), ("WEB_CONCURRENCY", " "),
    ],
)  # fmt: skip
def test_a_flask_command_with_a_bad_setting_says_which_in_one_line(
    tmp_path: Path, setting: str, value: str
) -> None:
    flask = [sys.executable, "-m", "flask", "--app", "wsgi", "ledger", "audit"]
    done = subprocess.run(
        flask, cwd=ROOT, env=_env(tmp_path, **{setting: value}), capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("配置错误 / configuration error: ")
    assert setting in lines[0] and (repr(value) in lines[0] or "must not be blank" in lines[0])


@pytest.mark.parametrize(
    ("setting", "value"),
    [("OWNER_DELIVERY_KEEP_DAYS", "ninety"), ("WEB_THREADS", "four"), ("WEB_CONCURRENCY", "0")],
)
def test_gunicorn_with_a_bad_setting_stops_before_any_worker(
    tmp_path: Path, setting: str, value: str
) -> None:
    gunicorn = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
    done = subprocess.run(
        gunicorn, cwd=ROOT, env=_env(tmp_path, **{setting: value}),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert f"Error: {setting}" in done.stderr and repr(value) in done.stderr
    assert "Traceback" not in done.stderr and "Booting worker" not in done.stderr


def test_a_bad_jurisdiction_file_stops_gunicorn_and_a_command_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "jurisdiction.json"
    bad.write_text('{"inspection_years": 3}')
    env = _env(tmp_path, JURISDICTION=str(bad))
    gunicorn = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
    flask = [sys.executable, "-m", "flask", "--app", "wsgi", "ledger", "audit"]
    for command in (gunicorn, flask):
        done = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 1
        assert "Traceback" not in done.stderr and "Booting worker" not in done.stderr
        assert "unknown jurisdiction parameter 'inspection_years'" in done.stderr
        assert str(bad) in done.stderr


def test_gunicorn_started_by_hand_removes_its_own_metrics_folder(tmp_path: Path) -> None:
    env = {**_env(tmp_path), "TMPDIR": str(tmp_path), "LOG_LEVEL": "info"}  # lines read below
    del env["PROMETHEUS_MULTIPROC_DIR"]  # as by hand: a folder of its own in the temp folder
    gunicorn = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
    checked = subprocess.run(
        [*gunicorn, "--check-config"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr  # the app loads with its metrics folder
    with subprocess.Popen(gunicorn, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True) as server:
        assert server.stderr is not None
        try:
            url = None
            for line in server.stderr:
                if "Listening at: " in line:
                    url = line.split("Listening at: ")[1].split()[0]
                if "Booting worker" in line:
                    break
            assert url is not None
            _wait_until_it_answers(url)
            made = [p.name for p in tmp_path.glob("ledger-prometheus-*")]
        finally:
            server.terminate()
            server.communicate(timeout=30)
    assert made == [f"ledger-prometheus-{server.pid}"]
    assert not list(tmp_path.glob("ledger-prometheus-*"))


def _wait_until_it_answers(url: str) -> None:
    """Until a worker answers (any status: this database has no tables). A SIGTERM that
    reaches a worker still starting, before it sets its own handlers, is lost there, and
    gunicorn waits its graceful timeout (20 s) for it: seen in a loaded suite."""
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{url}/healthz", timeout=2)
            return
        except httpx.HTTPError:
            assert time.monotonic() < deadline, "no worker answered in 30 s"
            time.sleep(0.05)
