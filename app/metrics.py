"""Prometheus metrics at ``/metrics``, correct under several gunicorn workers.

With ``PROMETHEUS_MULTIPROC_DIR`` set (gunicorn.conf.py sets it before any worker starts)
each worker writes its counters and histograms to files there and a scrape of any worker
adds them all up (prometheus_client's multiprocess mode; the ``child_exit`` hook marks a
dead worker's files). The ledger's gauges (integration lag, checkpoint age, tree size) are
read from the database at scrape time, so every worker gives the same answer.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import time
from collections.abc import Iterator
from typing import Any

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import TextClause, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from ledger.event_ids import recorded_at_by_id

FILL_CHECK_ENDPOINT = "api.fill_check"
FILL_CHECKS = Counter(
    "ledger_fill_checks_total",
    "Fill checks answered, by outcome (allowed/blocked) and blocking reason code.",
    ["outcome", "reason"],
)
LATENCY = Histogram(
    "ledger_http_request_duration_seconds",
    "Time to answer a request, by endpoint and method.",
    ["endpoint", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
)
# /healthz proves that the database answers a read; this says when it refused a request
# (app.outage): a full disk or a read-only file refuses every write while reads go on.
DATABASE_REFUSALS = Counter(
    "ledger_database_refusals_total",
    "Requests answered 503/507 for a database reason, by cause (storage_full, "
    "not_writable, locked, statement_cancelled, lost_at_commit, not_migrated, down).",
    ["cause"],
)


class LedgerCollector(Collector):
    """Gauges read from the database at scrape time."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        """Integration lag, tree size, the newest checkpoint's size, age and lag (nothing
        but ``ledger_database_up`` 0 when the database is down)."""
        try:
            with self.engine.connect() as conn:
                pending = conn.execute(_PENDING_UP_TO, {"n": PENDING_EXACT + 1}).scalar_one()
                if pending > PENDING_EXACT:
                    pending = conn.execute(_PENDING_SPAN).scalar_one()
                oldest_pending, leaf_recorded = _recording_times(conn.dialect.name)
                oldest = conn.execute(oldest_pending).scalar_one_or_none()
                size = conn.execute(text("SELECT size FROM log_state")).scalar_one_or_none()
                newest = conn.execute(_NEWEST_CHECKPOINT).first()
                uncovered = None  # the event of the first leaf no checkpoint covers yet
                if newest is not None and (size or 0) > newest[0]:
                    uncovered = conn.execute(leaf_recorded, {"i": newest[0]}).scalar()
        except SQLAlchemyError:
            yield GaugeMetricFamily("ledger_database_up", "Whether the database answered.", 0)
            return
        now = dt.datetime.now(dt.UTC)
        yield GaugeMetricFamily("ledger_database_up", "Whether the database answered.", 1)
        yield GaugeMetricFamily(
            "ledger_integration_pending_events",
            "Events committed, not yet in the log (exact up to 10,000; beyond, an upper bound).",
            pending,
        )
        yield GaugeMetricFamily(
            "ledger_integration_lag_seconds",
            "Age of the oldest event not yet integrated (0 when none).",
            _age(oldest, now) if oldest is not None else 0.0,
        )
        yield GaugeMetricFamily("ledger_tree_size", "Leaves in the global log.", size or 0)
        if newest is not None:
            yield GaugeMetricFamily(
                "ledger_checkpoint_size", "Leaves the newest checkpoint signs.", newest[0]
            )
            yield GaugeMetricFamily(
                "ledger_checkpoint_age_seconds",
                "Age of the newest checkpoint (it grows on a quiet ledger: nothing to sign).",
                _age(newest[1], now),
            )
            yield GaugeMetricFamily(
                "ledger_checkpoint_lag_seconds",
                "Age of the oldest event in the log that no checkpoint signs yet (0 when none).",
                _age(uncovered, now) if uncovered is not None else 0.0,
            )


# The backlog is counted exactly up to PENDING_EXACT events; beyond, it is the span of the
# queue's numbers (two primary-key probes; an upper bound, since a rolled-back append leaves
# a gap), so a scrape never reads a large backlog whole, just when integration is behind.
PENDING_EXACT = 10_000
_PENDING_UP_TO = text(
    "SELECT count(*) FROM (SELECT seq FROM log_pending ORDER BY seq LIMIT :n) AS p"
)
_PENDING_SPAN = text("SELECT max(seq) - min(seq) + 1 FROM log_pending")
_NEWEST_CHECKPOINT = text("SELECT size, created_at FROM checkpoints ORDER BY id DESC LIMIT 1")


@functools.cache
def _recording_times(dialect: str) -> tuple[TextClause, TextClause]:
    """When the oldest pending event, and the event of leaf ``:i``, were recorded; each
    by one probe of ``ledger.event_ids.recorded_at_by_id`` (not every month of events)."""
    ids = recorded_at_by_id(dialect).name
    return (
        text(
            f"SELECT e.recorded_at FROM log_pending p JOIN {ids} e ON e.id = p.event_id"
            " ORDER BY p.seq LIMIT 1"
        ),
        text(
            f"SELECT e.recorded_at FROM log_leaves l JOIN {ids} e ON e.id = l.event_id"
            " WHERE l.leaf_index = :i"
        ),
    )


def _age(when: Any, now: dt.datetime) -> float:
    if isinstance(when, str):  # SQLite hands back text
        when = dt.datetime.fromisoformat(when)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    age: dt.timedelta = now - when
    return max(0.0, age.total_seconds())


def registry_for(engine: Engine) -> CollectorRegistry:
    """The registry a scrape reads: every worker's files in multiprocess mode, plus the DB."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(FILL_CHECKS)
        registry.register(LATENCY)
        registry.register(DATABASE_REFUSALS)
    registry.register(LedgerCollector(engine))
    return registry


def observe_fill_check(body: Any) -> None:
    """Count one fill-check answer by outcome and by each blocking reason."""
    if not isinstance(body, dict) or not isinstance(body.get("allowed"), bool):
        return
    if body["allowed"]:
        FILL_CHECKS.labels("allowed", "").inc()
        return
    for reason in body.get("reasons") or [{"code": "unknown"}]:
        FILL_CHECKS.labels("blocked", str(reason.get("code", "unknown"))).inc()


def init_app(app: Flask) -> None:
    """Time every request, count fill checks, and serve ``/metrics``."""
    registry = registry_for(app.extensions["ledger"].engine)

    @app.before_request
    def _start() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.get("metrics_started")
        endpoint = request.endpoint or "unmatched"
        if started is not None and endpoint != "metrics":
            LATENCY.labels(endpoint, request.method).observe(time.perf_counter() - started)
        if endpoint == FILL_CHECK_ENDPOINT and response.status_code == 200:
            observe_fill_check(g.get("fill_check_answer"))  # set by the view: no re-parsing
        return response

    @app.get("/metrics", endpoint="metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
