"""The Flask shell: app factory, configuration, and the pieces it wires together."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from apiflask import APIFlask

from app import cli, config, health, idempotency, outage, pages, problems, runtime, security
from app import logging as app_logging
from app import metrics as app_metrics
from app.api import api


class LedgerApp(APIFlask):
    """APIFlask that decides once per function whether it is a coroutine: Flask asks again
    for every hook and view of every request, about 20 times a request."""

    _SYNC_CACHE_SIZE = 4096

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        cache: dict[Any, Callable[..., Any]] = self.__dict__.setdefault("_sync_funcs", {})
        try:
            return cache[func]
        except KeyError:
            pass
        except TypeError:  # unhashable: ask every time
            return super().ensure_sync(func)
        sync = super().ensure_sync(func)
        if len(cache) < self._SYNC_CACHE_SIZE:
            cache[func] = sync
        return sync


def create_app(test_config: dict[str, Any] | None = None) -> APIFlask:
    """Build the application; test_config overrides the environment."""
    overrides = test_config or {}
    app = LedgerApp(
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
    health.init_app(app)
    security.bound_path_integers(app)  # before the routes: ids fit a database integer
    app.register_blueprint(api)
    pages.init_app(app)
    idempotency.init_app(app)
    security.init_app(app)  # after the views: it wraps some of them in rate limits
    cli.init_app(app)
    return app
