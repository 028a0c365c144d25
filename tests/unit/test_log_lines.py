"""Other libraries' records as JSON lines: plain text, and no second line per request from
the development server (`make run`)."""

from __future__ import annotations

import io
import json
import logging

import structlog

from app.logging import json_lines_handler


def _logged(name: str, message: str, *args: object) -> list[dict[str, object]]:
    out = io.StringIO()
    handler = json_lines_handler(
        out,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.JSONRenderer(ensure_ascii=False),
    )
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    logger.propagate, level = False, logger.level
    logger.setLevel(logging.INFO)
    try:
        logger.info(message, *args)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
        logger.setLevel(level)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_the_development_servers_banner_is_plain_text() -> None:
    banner = "\x1b[31m\x1b[1mWARNING: This is a development server.\x1b[0m\n * Running on http://x"
    [line] = _logged("werkzeug", "%s", banner)
    assert line["event"] == "WARNING: This is a development server.\n * Running on http://x"
    assert line["logger"] == "werkzeug" and line["level"] == "info"


def test_its_access_line_is_dropped_the_apps_request_line_says_it() -> None:
    access = '127.0.0.1 - - [08/Dec/2026 03:15:11] "\x1b[33mGET /nosuch HTTP/1.1\x1b[0m" 404 -'
    assert _logged("werkzeug", "%s", access) == []
    kept = '127.0.0.1 - - [08/Dec/2026 03:15:11] "GET / HTTP/1.1" 200 -'
    assert _logged("another.library", "%s", kept)[0]["event"] == kept  # only werkzeug's
