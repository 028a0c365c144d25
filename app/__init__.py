"""The Flask shell: app factory, configuration, and the pieces it wires together."""

from __future__ import annotations

import os
from typing import Any

from apiflask import APIFlask

from app import cli, config, idempotency, outage, pages, problems, runtime, security
from app import logging as app_logging
from app import metrics as app_metrics
from app.api import api


def create_app(test_config: dict[str, Any] | None = None) -> APIFlask:
    """Build the application; test_config overrides the environment."""
    overrides = test_config or {}
    app = APIFlask(
        __name__,
        title="Cylinder ledger 一瓶一码",
        version="v1",
        spec_path="/api/v1/openapi.json",
        docs_path="/api/v1/docs",
        instance_path=overrides.get("INSTANCE_PATH") or os.environ.get("LEDGER_INSTANCE") or None,
        instance_relative_config=True,
    )
    config.load(app, test_config)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # Chinese stays readable
    app_logging.init_app(app)  # first: the request id is bound before anything logs
    problems.init_app(app)
    runtime.init_app(app)
    outage.init_app(app)  # before anything else wraps wsgi_app
    app_metrics.init_app(app)
    security.bound_path_integers(app)  # before the routes: ids fit a database integer
    app.register_blueprint(api)
    pages.init_app(app)
    idempotency.init_app(app)
    security.init_app(app)  # after the views: it wraps some of them in rate limits
    cli.init_app(app)
    return app
