"""What every page shares: a database session, one-time form tokens, errors as pages."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Blueprint, render_template, session
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlmodel import Session

from app.runtime import runtime
from ledger.errors import Conflict, Forbidden, Invalid, LedgerError, NotFound
from ledger.reasons import Reason
from ledger.store import transaction

STATUS_OF = {NotFound: 404, Forbidden: 403, Invalid: 422, Conflict: 409}
MAX_ONCE = 32


@contextmanager
def db(*, write: bool = True) -> Iterator[Session]:
    """One transaction on the ledger's database."""
    with transaction(runtime().engine, write=write) as s:
        yield s


def form_token() -> str:
    """A fresh random token for a form: the Idempotency-Key of what the form records."""
    return secrets.token_urlsafe(24)


def issue_once() -> str:
    """A one-time token for a form that creates a record (PRG: a resubmit is refused)."""
    token = form_token()
    tokens = [*session.get("once", [])[-(MAX_ONCE - 1) :], token]
    session["once"] = tokens
    return token


def consume_once(token: str | None) -> bool:
    """True the first time a one-time token comes back; False for a resubmitted form."""
    tokens = list(session.get("once", []))
    if not token or token not in tokens:
        return False
    tokens.remove(token)
    session["once"] = tokens
    return True


def restore_once(token: str | None) -> None:
    """Give a consumed one-time token back: the form it came with recorded nothing (it was
    refused), so the same form, corrected after Back, may still be sent once."""
    if token:
        session["once"] = [*session.get("once", [])[-(MAX_ONCE - 1) :], token]


def english() -> bool:
    """Whether the page is shown in English."""
    return str(get_locale()).startswith("en")


def message(reason: Reason | dict[str, str]) -> str:
    """A reason's message in the page's language."""
    if isinstance(reason, dict):
        return reason["message_en"] if english() else reason["message_zh"]
    return reason.message_en if english() else reason.message_zh


def detail_text(error: LedgerError) -> str:
    """A ledger error's detail in the page's language (details read 'zh / en')."""
    return in_page_language(error.detail)


def in_page_language(text: str) -> str:
    """The half of a 'zh / en' text in the page's language (a text without one: whole)."""
    zh, sep, en = text.partition(" / ")
    if not sep:
        return text
    return en if english() else zh


def error_page(status: int, text: str, **context: Any) -> tuple[str, int]:
    """An error as a page in the page's language."""
    return render_template("error.html", status=status, text=text, **context), status


def status_of(error: LedgerError) -> int:
    """The HTTP status of a ledger error."""
    return next(s for cls, s in STATUS_OF.items() if isinstance(error, cls))


def event_names() -> dict[str, str]:
    """Each event type's name in the page's language (the glossary of STYLE.md)."""
    return {
        "registered": _("Registered"), "filled": _("Filled"), "fill_blocked": _("Fill blocked"),
        "delivery_blocked": _("Delivery blocked"), "dispatched": _("Dispatched"),
        "delivered": _("Delivered"), "returned": _("Returned"), "inspected": _("Inspected"),
        "relabelled": _("Relabelled"), "ownership_transferred": _("Ownership transferred"),
        "reported": _("Reported"), "held": _("Held"), "released": _("Released"),
        "scrapped": _("Scrapped"),
    }  # fmt: skip


def status_names() -> dict[str, str]:
    """Each cylinder status's name in the page's language."""
    return {
        "empty": _("Empty"), "full": _("Full"), "in_transit": _("In transit"),
        "at_customer": _("At a customer"), "condemned": _("Condemned"), "scrapped": _("Scrapped"),
    }  # fmt: skip


def licence_status_names() -> dict[str, str]:
    """Each licence status's name in the page's language."""
    return {"valid": _("valid"), "suspended": _("suspended"), "revoked": _("revoked")}


def report_kind_names() -> dict[str, str]:
    """Each kind of public report's name in the page's language."""
    return {
        "suspected_fake": _("Suspected fake or refurbished cylinder"),
        "damaged": _("Damaged cylinder or label"),
        "leak": _("Gas leak or smell"),
        "overdue": _("Overdue for inspection"),
        "illegal_delivery": _("Illegal delivery (basement, dual-phase to a restaurant…)"),
        "other": _("Something else"),
    }


def report_status_names() -> dict[str, str]:
    """Each public report status's name in the page's language."""
    return {"open": _("Open"), "reviewed": _("Reviewed"), "dismissed": _("Dismissed")}


def display_names() -> dict[str, dict[str, str]]:
    """The names the templates show for stored values (never the raw English value)."""
    return {
        "event_names": event_names(),
        "status_names": status_names(),
        "licence_status_names": licence_status_names(),
        "report_kind_names": report_kind_names(),
        "report_status_names": report_status_names(),
    }


def _forbidden(_error: Exception) -> tuple[str, int]:
    return error_page(403, _("Your account may not use this page."))


def _not_found(_error: Exception) -> tuple[str, int]:
    return error_page(404, _("Page not found."))


def is_page_address(path: str) -> bool:
    """Whether an address is one a person opens (its errors are pages), not one a program
    reads (the JSON API, the driver page's own uploads, metrics, JSON documents)."""
    machine = "/api/" in path or path in ("/metrics", "/healthz")  # /api/…, /driver/api/…
    return not (machine or path.endswith((".json", ".jsonld")))


def page_blueprint(name: str, import_name: str, url_prefix: str | None = None) -> Blueprint:
    """A blueprint of pages: its 403 and 404 are pages in the page's language, not JSON."""
    bp = Blueprint(name, import_name, url_prefix=url_prefix)
    bp.register_error_handler(403, _forbidden)
    bp.register_error_handler(404, _not_found)
    return bp
