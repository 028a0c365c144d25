"""An address's own errors as pages: no such page, not this method, too much sent; and
the server's refusals (app/outage.py, app/problems.py) on a page address.

The JSON API answers these as problem+json (APIFlask's handler, app/problems.py). A person
who types an address, reloads the answer to a form or restores a tab gets a page in the
page's language instead; and a GET of an address that only takes a form (the station's
/station/check after a scan, a report form's answer on a phone) goes on to the page the
form is on, one level up.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, redirect, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from app.pages.common import error_page, in_page_language, is_page_address
from app.people import opens_with_get


def init_app(app: Flask) -> None:
    """Answer HTTP errors on page addresses with pages; call after APIFlask's handler is
    installed (it stays the answer everywhere else)."""
    as_json = app.error_handler_spec[None][None][HTTPException]

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Any:
        if not is_page_address(request.path):
            return as_json(error)
        above = page_above(request.path)
        if error.code == 405 and request.method in ("GET", "HEAD") and above is not None:
            return redirect(above, 303)
        return error_page(error.code or 500, _text(error), back=above or "/")


def server_refusal_page(status: int, detail: str, headers: dict[str, str]) -> Any:
    """The server's own refusal on a page address (the database away or full, an error of
    the server's): a page in the page's language, never problem+json shown as text. A GET
    is tried again where it was; a form goes back to its page, where it is sent again."""
    if request.method in ("GET", "HEAD"):
        links = {"retry": request.full_path.rstrip("?")}
    elif opens_with_get(request.path):  # the form posts to its own page (/login)
        links = {"back": request.path}
    else:
        links = {"back": page_above(request.path) or "/"}
    body, status = error_page(status, in_page_language(detail), **links)
    return body, status, headers


def page_above(path: str) -> str | None:
    """The nearest page a GET opens, up the address from ``path`` (``/station/check`` →
    ``/station/``, ``/c/CODE/report`` → ``/c/CODE``); None if none does."""
    parts = path.rstrip("/").split("/")
    while len(parts) > 1:
        parts.pop()
        candidate = "/".join(parts)
        for form in (candidate, candidate + "/"):
            if form and opens_with_get(form):
                return form
    return None


def _text(error: HTTPException) -> str:
    if error.code == 404:
        return str(_("Page not found."))
    if error.code == 405:
        return str(_("This address does not take this kind of request."))
    if error.code == 413:
        limit = int(current_app.config.get("MAX_CONTENT_LENGTH") or 0) // 1024
        return str(_("What was sent is too large (at most %(kb)s KB).", kb=limit))
    if error.description and error.description != type(error).description:
        return error.description  # a view's own words
    return str(_("This request could not be handled (%(code)s).", code=error.code))
