"""/driver: the delivery driver's phone page (装车 dispatch, 送达 deliver, 回收 return).

The page's script (static/js/driver.js) queues each scan in IndexedDB and posts it here
with an Idempotency-Key until the server answers, so a flaky network loses nothing and
records nothing twice. Customer files are opened with an ordinary form (PRG, one-time),
and found by a search (JSON); the phone remembers its recent ones (ids and names).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from app.api.cylinders import after_write
from app.pages.common import (
    consume_once,
    db,
    detail_text,
    issue_once,
    message,
    page_blueprint,
    restore_once,
    status_of,
)
from app.people import current_actor, roles_required
from app.runtime import runtime
from ledger import codes, ids, registry_customers, registry_staff, service
from ledger.errors import Invalid, LedgerError
from ledger.model import Customer, CustomerKind, Role
from ledger.payloads import CHECKLIST_ITEMS, NOT_APPLICABLE_ITEMS
from ledger.reasons import CHECKLIST_LABELS

bp = page_blueprint("driver", __name__, url_prefix="/driver")
DRIVERS = (Role.DRIVER,)
PAGE_TYPES = ("dispatched", "delivered", "returned")
INLINE_CAP = 50  # an enterprise with at most this many files gets them all with the page
SEARCH_LIMIT = 20
MAX_QUERY = 50
MAX_KNOWN = 10  # the phone keeps at most 10 recent customers


@bp.get("/")
@roles_required(DRIVERS)
def index() -> Any:
    """The phone page: scanner, action, customer, checklist, and the pending queue."""
    actor = current_actor()
    with db(write=False) as s:
        vehicles = [
            v.plate for v in registry_staff.list_vehicles(s, actor) if v.driver_id == actor.id
        ]
        # A small enterprise's files all come with the page (chosen without typing, and
        # found offline too); a large one's are searched, and never all sent to a phone.
        few = registry_customers.customers_if_few(s, actor, INLINE_CAP)
        just_opened = (_ids(request.args.get("customer")) or [])[:1]
        opened = registry_customers.known_customers(s, actor, just_opened)
    checklist = [(item, CHECKLIST_LABELS[item]) for item in CHECKLIST_ITEMS]
    return render_template(
        "driver/index.html",
        vehicles=vehicles,
        customers=None if few is None else [_card(c) for c in few],
        chosen=_card(opened[0]) if opened else None,
        checklist=checklist,
        not_applicable=NOT_APPLICABLE_ITEMS,
        kinds=list(CustomerKind),
        once=issue_once(),
        search_limit=SEARCH_LIMIT,
    )


@bp.get("/customers")
@roles_required(DRIVERS)
def search_customers() -> Any:
    """Up to 20 of the enterprise's files whose name, address or phone contains ``q`` (JSON)."""
    q = request.args.get("q", "").strip()
    if not 1 <= len(q) <= MAX_QUERY:
        detail = _("Type 1 to %(n)s characters to search.", n=MAX_QUERY)
        return {"error": "invalid", "detail": detail}, 422
    with db(write=False) as s:
        found = registry_customers.search_customers(s, current_actor(), q, SEARCH_LIMIT + 1)
        cards = [_card(c) for c in found[:SEARCH_LIMIT]]
    return {"customers": cards, "more": len(found) > SEARCH_LIMIT}


@bp.get("/customers/known")
@roles_required(DRIVERS)
def known_customers() -> Any:
    """Which of the phone's recent files (``ids=1,2``) still exist, with their details (JSON);
    the page forgets the others (erased, or not this enterprise's)."""
    ids = _ids(request.args.get("ids"))
    if ids is None or len(ids) > MAX_KNOWN:
        detail = _("At most %(n)s customer ids, separated by commas.", n=MAX_KNOWN)
        return {"error": "invalid", "detail": detail}, 422
    with db(write=False) as s:
        found = registry_customers.known_customers(s, current_actor(), ids)
        cards = [_card(c) for c in found]
    return {"customers": cards}


def _ids(text: str | None) -> list[int] | None:
    """Customer ids written "1,2,3" (none for no text); None when that is not what it is."""
    parts = [p for p in (text or "").split(",") if p]
    if not all(re.fullmatch(r"[0-9]{1,10}", p) for p in parts):
        return None
    return [int(p) for p in parts]


def _card(customer: Customer) -> dict[str, Any]:
    """What the page shows of a file; never its phone."""
    return {
        "id": customer.id,
        "name": customer.name,
        "kind": customer.kind,
        "address": customer.address,
        "basement": customer.basement,
    }


@bp.post("/customers")
@roles_required(DRIVERS)
def new_customer() -> Any:
    """Open a customer file (用户档案); a resubmitted form opens nothing."""
    if not consume_once(request.form.get("once")):
        flash(_("This form was already submitted; nothing was recorded twice."), "warning")
        return redirect(url_for("driver.index"))
    data = {
        "name": request.form.get("name", ""),
        "kind": request.form.get("kind", ""),
        "address": request.form.get("address", ""),
        "basement": request.form.get("basement") == "on",
    }
    try:
        with db() as s:
            customer = registry_customers.create_customer(s, current_actor(), data)
            cid = customer.id
    except LedgerError as exc:
        restore_once(request.form.get("once"))  # nothing recorded: Back, correct, send
        flash(detail_text(exc), "error")
        return redirect(url_for("driver.index"))
    flash(_("Customer file opened."), "info")
    return redirect(url_for("driver.index", customer=cid))


@bp.post("/api/events")
@roles_required(DRIVERS)
def record() -> Any:
    """Record one queued scan (JSON; the Idempotency-Key makes a retry harmless)."""
    rt, actor = runtime(), current_actor()
    body = request.get_json(silent=True)
    key = request.headers.get("Idempotency-Key")
    if not isinstance(body, dict) or body.get("type") not in PAGE_TYPES or not key:
        return {"error": "invalid", "detail": _("Not a scan this page can record.")}, 422
    if body.get("actor") is not None and str(body["actor"]) != str(actor.id):
        # Queued under another login on this phone (the page's session changed since).
        detail = _("This scan was queued by another login; it was not recorded.")
        return {"error": "other_login", "detail": detail}, 409
    try:
        occurred_at = _when(body.get("occurred_at"))
        code = _code(body.get("code"))
        with db() as s:
            result = service.append_event(
                s,
                rt.authority,
                actor,
                code,
                body["type"],
                body.get("payload"),
                rt.now(),
                occurred_at=occurred_at,
                event_id=ids.idempotent_id(actor, key),
                params=rt.params,
            )
    except LedgerError as exc:
        return {
            "error": "refused",
            "detail": detail_text(exc),
            "reasons": [message(r) for r in exc.extra.get("reasons", [])],
        }, status_of(exc)
    after_write()
    if result.refusal is not None:
        reasons = [message(r) for r in result.refusal.reasons]
        return {"error": "refused", "recorded": "delivery_blocked", "reasons": reasons}, 409
    return {
        "ok": True,
        "replay": not result.created,
        "code": code,
        "type": body["type"],
        "warnings": [message(w) for w in result.warnings],
    }, 201 if result.created else 200


def _code(text: Any) -> str:
    try:
        return codes.parse_scan(str(text or "")).code
    except codes.ScanError:
        raise Invalid(_("Not a cylinder code: %(scan)s", scan=str(text)[:40])) from None


def _when(text: Any) -> dt.datetime | None:
    if text is None:
        return None
    try:
        return dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise Invalid("扫码时间格式不对 / occurred_at must be an RFC 3339 time") from None
