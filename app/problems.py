"""RFC 9457 problem details for every error, and ledger errors mapped to statuses.

Database errors (gone away, disk full) are app.outage's.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from apiflask import APIFlask, HTTPError
from flask import current_app, request
from werkzeug.exceptions import HTTPException

from app.pages.common import is_page_address
from app.pages.http_errors import server_refusal_page
from ledger.errors import Conflict, Forbidden, Invalid, LedgerError, NotFound

PROBLEM_TYPE = "https://cylinder-ledger.example/problems/"
STATUS_OF = {NotFound: 404, Forbidden: 403, Invalid: 422, Conflict: 409}
PROBLEM_JSON = {"Content-Type": "application/problem+json"}
UNEXPECTED_ON_A_PAGE = "服务器出错，本次操作未记录 / a server error: nothing was recorded"


def problem(
    status: int, title: str, detail: str, **extra: Any
) -> tuple[dict[str, Any], int, dict[str, str]]:
    """A problem+json response tuple."""
    slug = title.lower().replace(" ", "-")
    body = {
        "type": PROBLEM_TYPE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }
    return body, status, PROBLEM_JSON


def init_app(app: APIFlask) -> None:
    """Install the handlers."""
    _refuse_oversized_numbers()

    @app.error_processor
    def _http_error(error: HTTPError) -> Any:
        extra = dict(error.extra_data or {})
        detail = error.detail
        if error.status_code in (400, 422) and isinstance(detail, dict) and detail:
            extra.setdefault("errors", detail)
            detail = _flatten(detail)
        elif not isinstance(detail, str) or not detail:
            detail = error.message
        title = error.message or HTTPStatus(error.status_code).phrase
        body, status, headers = problem(error.status_code, title, detail, **extra)
        return body, status, {**dict(error.headers or {}), **headers}

    @app.errorhandler(LedgerError)
    def _ledger_error(error: LedgerError) -> Any:
        status = next(s for cls, s in STATUS_OF.items() if isinstance(error, cls))
        title = {404: "Not Found", 403: "Forbidden", 422: "Invalid Input", 409: "Conflict"}[status]
        return problem(status, title, error.detail, **error.extra)

    app.register_error_handler(Exception, unexpected)


def unexpected(error: Exception) -> Any:
    """Any other error: its HTTP status if it has one, else a logged 500 saying nothing was
    recorded (the request's transaction is rolled back)."""
    if isinstance(error, HTTPException):
        return problem(error.code or 500, error.name, error.description or error.name)
    current_app.logger.exception("unhandled error")
    if is_page_address(request.path):
        return server_refusal_page(500, UNEXPECTED_ON_A_PAGE, {})
    return problem(500, "Internal Server Error", "an unexpected error; nothing was recorded")


def _flatten(detail: dict[str, Any], prefix: str = "") -> str:
    parts = []
    for key, value in detail.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            parts.append(_flatten(value, path + "."))
        else:
            msgs = value if isinstance(value, list) else [value]
            parts.append(f"{path}: {' '.join(str(m) for m in msgs)}")
    return "; ".join(parts)


def _refuse_oversized_numbers() -> None:
    """A JSON body with an integer of over 4,300 digits makes Python's parser raise a plain
    ValueError (its guard against slow conversions), which webargs does not expect: a 400
    problem saying so, not a 500. Wraps the parser's ``load_json``, the public loader of
    the "json" location (webargs looks loaders up on the instance by that name)."""
    from apiflask.schema_adapters.marshmallow import parser

    if getattr(parser, "_numbers_guarded", False):
        return
    load = parser.load_json

    def guarded(req: Any, schema: Any) -> Any:
        try:
            return load(req, schema)
        except ValueError:  # load_json itself answers JSON that does not parse
            raise HTTPError(
                400,
                "Bad Request",
                detail="JSON 中的数字过长 / a number in the JSON body is too long to read "
                "(over 4,300 digits)",
            ) from None

    parser.load_json = guarded  # type: ignore[method-assign]
    parser._numbers_guarded = True  # type: ignore[attr-defined]
