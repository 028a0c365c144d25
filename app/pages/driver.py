"""/driver: the delivery driver's phone page (装车 dispatch, 送达 deliver, 回收 return).

The page's script (static/js/driver.js) queues each scan in IndexedDB and posts it here
with an Idempotency-Key until the server answers, so a flaky network loses nothing and
records nothing twice. Customer files are opened with an ordinary form (PRG, one-time).
"""

from __future__ import annotations

import datetime as dt
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
    status_of,
)
from app.people import current_actor, roles_required
from app.runtime import runtime
from ledger import codes, registry_customers, registry_staff, service
from ledger.errors import Invalid, LedgerError
from ledger.model import CustomerKind, Role
from ledger.payloads import CHECKLIST_ITEMS
from ledger.reasons import CHECKLIST_LABELS

bp = page_blueprint("driver", __name__, url_prefix="/driver")
DRIVERS = (Role.DRIVER,)
PAGE_TYPES = ("dispatched", "delivered", "returned")


@bp.get("/")
@roles_required(DRIVERS)
def index() -> Any:
    """The phone page: scanner, action, customer, checklist, and the pending queue."""
    actor = current_actor()
    with db(write=False) as s:
        vehicles = [
            v.plate for v in registry_staff.list_vehicles(s, actor) if v.driver_id == actor.id
        ]
        customers = [
            (c.id, c.name, c.kind, c.basement)
            for c in registry_customers.list_customers(s, actor)
            if c.erased_at is None
        ]
    checklist = [(item, CHECKLIST_LABELS[item]) for item in CHECKLIST_ITEMS]
    return render_template(
        "driver/index.html",
        vehicles=vehicles,
        customers=customers,
        checklist=checklist,
        kinds=list(CustomerKind),
        once=issue_once(),
        chosen=request.args.get("customer", ""),
    )


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
                event_id=service.idempotent_id(actor, key),
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
        raise Invalid("occurred_at must be an RFC 3339 time") from None
