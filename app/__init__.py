"""The Flask shell: app factory, configuration, and the pieces it wires together."""

from __future__ import annotations

import os
from typing import Any

from apiflask import APIFlask

from app import cli, config, problems, runtime
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
    problems.init_app(app)
    runtime.init_app(app)
    app.register_blueprint(api)
    cli.init_app(app)
    return app
