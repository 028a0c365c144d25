"""gunicorn's own lines are JSON objects, one a line, with the keys of the app's lines and a
traceback kept in one field (gunicorn.conf.py's ``JsonLines``): the journal stays one
object a line, error lines included."""

from __future__ import annotations

import json
import logging
import os
import runpy
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]

BROKEN_APP = """
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"the first piece"
    raise RuntimeError(CAUSE)
"""
CAUSE = "数据库中途断开 / the database went away mid-stream"


def test_gunicorn_logs_an_error_in_an_answer_as_one_json_line(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text(f"CAUSE = {CAUSE!r}\n{BROKEN_APP}")
    env = {
        **os.environ, "GUNICORN_BIND": "127.0.0.1:0", "WEB_CONCURRENCY": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
        "LOG_LEVEL": "info",  # its start lines are read below: never hidden by the caller's
    }  # fmt: skip
    command = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"),
               "--chdir", str(tmp_path), "broken:app"]  # fmt: skip
    started = subprocess.Popen(command, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    with started as server:
        assert server.stderr is not None
        lines: list[str] = []
        try:
            for line in server.stderr:
                lines.append(line)
                if "Booting worker" in line:
                    break
            url = next(json.loads(x)["event"] for x in lines if "Listening at: " in x)
            url = url.split("Listening at: ")[1].split()[0]
            # Queued by the master's socket until the worker takes it; the answer is cut short.
            with pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"):
                httpx.get(url, timeout=60)
        finally:
            server.terminate()
            lines += server.communicate(timeout=30)[1].splitlines(keepends=True)
    assert server.returncode == 0
    records = [json.loads(line) for line in lines]  # every line, one JSON object
    assert {"event", "level", "logger", "pid", "timestamp"} <= set(records[0])
    assert records[0]["event"].startswith("Starting gunicorn")
    (error,) = [r for r in records if r["level"] == "error"]
    assert error["event"] == "Error handling request" and error["logger"] == "gunicorn.error"
    assert error["exception"].startswith("Traceback (most recent call last):")
    assert error["exception"].endswith(f"RuntimeError: {CAUSE}")
    assert error["pid"] != records[0]["pid"]  # the worker's, not the master's


def test_a_record_renders_with_the_app_s_keys_and_its_text_unescaped(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "prometheus"))
    monkeypatch.setenv("INTEGRATE_AFTER_WRITE", "0")
    formatter = runpy.run_path(str(ROOT / "gunicorn.conf.py"))["JsonLineFormatter"]()
    record = logging.LogRecord(
        "gunicorn.error", logging.CRITICAL, __file__, 1, "WORKER TIMEOUT (pid:%s) 超时", (42,), None
    )
    line = formatter.format(record)
    assert "\n" not in line and "超时" in line
    assert json.loads(line) == {
        "event": "WORKER TIMEOUT (pid:42) 超时", "level": "critical", "logger": "gunicorn.error",
        "pid": os.getpid(), "timestamp": json.loads(line)["timestamp"],
    }  # fmt: skip
    assert json.loads(line)["timestamp"].endswith("Z")
