"""Request ids in JSON logs, and Prometheus metrics, in-process and under gunicorn workers."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import structlog
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from tests import flows
from tests.conftest import bearer
from tests.reliability.server import listening_socket

ROOT = Path(__file__).resolve().parents[2]


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _fill_checks(samples: dict[Any, float], outcome: str, reason: str) -> float:
    key = ("ledger_fill_checks_total", (("outcome", outcome), ("reason", reason)))
    return samples.get(key, 0.0)


def test_every_response_carries_a_request_id_and_its_log_line_too(client: Any) -> None:
    with structlog.testing.capture_logs() as logs:
        mine = client.get("/api/v1/ledger/checkpoint", headers={"X-Request-ID": "station-7.42"})
        fresh = client.get(
            "/api/v1/ledger/checkpoint", headers={"X-Request-ID": "bad id; forged=1"}
        )
    assert mine.headers["X-Request-ID"] == "station-7.42"
    assert re.fullmatch(r"[0-9a-f]{32}", fresh.headers["X-Request-ID"])
    lines = [entry for entry in logs if entry["event"] == "request"]
    assert [e["request_id"] for e in lines] == ["station-7.42", fresh.headers["X-Request-ID"]]
    assert (
        lines[0]["path"] == "/api/v1/ledger/checkpoint" and lines[0]["status"] == mine.status_code
    )
    assert isinstance(lines[0]["ms"], float)


def test_json_lines_carry_the_bound_request_id(capsys: pytest.CaptureFixture[str]) -> None:
    import json
    import logging

    from app.logging import configure, get_logger

    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        import app.logging as mod

        mod._configured = False
        configure()
        structlog.contextvars.bind_contextvars(request_id="r-1")
        get_logger("t").info("hello", 你好="世界")
        logging.getLogger("other.lib").warning("plain %s", "record")
        structlog.contextvars.clear_contextvars()
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
        structlog.reset_defaults()
        mod._configured = False
    lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
    assert lines[0]["event"] == "hello" and lines[0]["request_id"] == "r-1"
    assert lines[0]["你好"] == "世界" and lines[0]["level"] == "info" and "timestamp" in lines[0]
    assert lines[1]["event"] == "plain record" and lines[1]["logger"] == "other.lib"


def test_metrics_count_fill_checks_by_outcome_and_reason(client: Any, demo: Any) -> None:
    code = flows.register(client, demo, last_inspected_on="2026-01-10")
    theirs = flows.register(client, demo, who="enterprise_b", last_inspected_on="2026-01-10")
    before = _samples(client.get("/metrics").get_data(as_text=True))
    assert flows.check(client, demo, code).get_json()["allowed"] is True
    assert flows.check(client, demo, theirs).get_json()["allowed"] is False
    page = client.get("/metrics")
    assert page.status_code == 200 and page.mimetype == "text/plain"
    # One charset: Prometheus 3 refuses a Content-Type it cannot parse (a repeated parameter).
    assert page.headers["Content-Type"] == CONTENT_TYPE_LATEST
    assert page.headers["Content-Type"].count("charset") == 1
    after = _samples(page.get_data(as_text=True))
    allowed = _fill_checks(after, "allowed", "") - _fill_checks(before, "allowed", "")
    assert allowed == 1
    blocked = _fill_checks(after, "blocked", "NOT_OWNED") - _fill_checks(
        before, "blocked", "NOT_OWNED"
    )
    assert blocked == 1
    count = ("ledger_http_request_duration_seconds_count",
             (("endpoint", "api.fill_check"), ("method", "POST")))  # fmt: skip
    assert after[count] - before.get(count, 0.0) == 2
    assert after[("ledger_database_up", ())] == 1
    assert ("ledger_integration_lag_seconds", ()) in after
    assert after[("ledger_checkpoint_age_seconds", ())] >= 0
    assert after[("ledger_tree_size", ())] > 0


def test_the_health_probe_answers_with_its_database_and_no_token(client: Any) -> None:
    resp = client.get("/healthz")
    assert resp.status_code == 200 and resp.get_json() == {"status": "ok", "database": "up"}


def _gauges(client: Any) -> dict[str, float]:
    samples = _samples(client.get("/metrics").get_data(as_text=True))
    return {name: value for (name, labels), value in samples.items() if not labels}


def test_checkpoint_lag_counts_only_what_no_checkpoint_signs(
    app: Any, client: Any, demo: Any
) -> None:
    from app import jobs

    assert jobs.integrate_and_checkpoint(app)["status"] == "done"
    time.sleep(1.1)
    quiet = _gauges(client)  # an old checkpoint of a quiet ledger is no alarm
    assert quiet["ledger_checkpoint_age_seconds"] >= 1.0
    assert quiet["ledger_checkpoint_lag_seconds"] == 0
    assert quiet["ledger_checkpoint_size"] == quiet["ledger_tree_size"] > 0
    flows.register(client, demo)  # in the log at once (integrated after the write), unsigned
    time.sleep(1.1)
    waiting = _gauges(client)
    assert waiting["ledger_tree_size"] == quiet["ledger_tree_size"] + 1
    assert waiting["ledger_checkpoint_size"] == quiet["ledger_checkpoint_size"]
    assert (
        1.0 <= waiting["ledger_checkpoint_lag_seconds"] < waiting["ledger_checkpoint_age_seconds"]
    )
    signing = time.monotonic()
    assert jobs.integrate_and_checkpoint(app)["status"] == "done"
    signed = _gauges(client)
    took = time.monotonic() - signing  # however slow the machine: the age is no older
    assert signed["ledger_checkpoint_lag_seconds"] == 0
    assert signed["ledger_checkpoint_size"] == signed["ledger_tree_size"]
    assert signed["ledger_checkpoint_age_seconds"] <= took + 0.01


def test_a_large_backlog_is_counted_by_its_span_not_read_whole(
    app: Any, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import text

    from app import metrics

    engine = app.extensions["ledger"].engine
    monkeypatch.setattr(metrics, "PENDING_EXACT", 3)
    add = text("INSERT INTO log_pending (seq, event_id, event_hash) VALUES (:s, :e, :h)")
    try:
        with engine.begin() as conn:  # a queue of 3 events, queue numbers 1001-1003
            for seq in (1001, 1002, 1003):
                conn.execute(add, {"s": seq, "e": f"backlog-{seq}", "h": bytes(32)})
        assert _gauges(client)["ledger_integration_pending_events"] == 3  # exact
        with engine.begin() as conn:  # two more, after a gap a rolled-back append left
            for seq in (1005, 1006):
                conn.execute(add, {"s": seq, "e": f"backlog-{seq}", "h": bytes(32)})
        assert _gauges(client)["ledger_integration_pending_events"] == 6  # 1001-1006: a bound
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM log_pending WHERE event_id LIKE 'backlog-%'"))


def test_metrics_add_up_over_several_gunicorn_workers(
    app: Any, client: Any, demo: Any, db_url: str, tmp_path: Path
) -> None:
    code = flows.register(client, demo, last_inspected_on="2026-01-10")
    listener = listening_socket()  # handed to gunicorn: the port is never free meanwhile
    port, fd = listener.getsockname()[1], listener.fileno()
    metrics_dir = tmp_path / "prom"
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "LEDGER_INSTANCE": app.instance_path,
        "LEDGER_KEYS_DIR": app.config["KEYS_DIR"],
        "LEDGER_ORIGIN": app.config["LEDGER_ORIGIN"],
        "PUBLIC_BASE_URL": app.config["PUBLIC_BASE_URL"],
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "GUNICORN_BIND": f"fd://{fd}",
        "WEB_CONCURRENCY": "3",
        "WEB_THREADS": "2",
        "LOG_LEVEL": "warning",
    }
    gunicorn = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
    log = (tmp_path / "gunicorn.log").open("wb")
    with listener:
        proc = subprocess.Popen(gunicorn, cwd=ROOT, env=env, stderr=log, pass_fds=(fd,))
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_up(base, proc)
        body = {"station_id": demo["stations"]["a"], "scan": code}
        headers = bearer(demo["tokens"]["station_a"])
        n = 0
        # A new connection each: gunicorn spreads them over its workers, though
        # under load one worker may take many in a row; go on until two have.
        while n < 24 or (len(_metric_writers(metrics_dir)) < 2 and n < 400):
            with httpx.Client(base_url=base, timeout=30) as http:
                assert http.post("/api/v1/fill-checks", json=body, headers=headers).json()[
                    "allowed"
                ]
            n += 1
        scrapes = []
        for _ in range(6):
            with httpx.Client(base_url=base, timeout=30) as http:
                scrapes.append(_samples(http.get("/metrics").text))
        assert {_fill_checks(s, "allowed", "") for s in scrapes} == {n}
        assert len(_metric_writers(metrics_dir)) >= 2, "the checks met only one worker"
        workers = psutil.Process(proc.pid).children()
        assert len(workers) == 3
        for worker in workers:  # the budget: 150 MB per web worker
            assert worker.memory_info().rss < 150 * 2**20
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


def _metric_writers(metrics_dir: Path) -> set[str]:
    """The worker pids that have written a metric file (name_<pid>.db)."""
    return {p.stem.rsplit("_", 1)[-1] for p in metrics_dir.glob("*.db")}


def _wait_up(base: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(200):
        if proc.poll() is not None:
            raise AssertionError(f"gunicorn exited with {proc.returncode}")
        try:
            httpx.get(f"{base}/metrics", timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("gunicorn did not come up in 20 s")
