"""/regulator: enterprises and their licences (manage, revoke, blacklist), public reports."""

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
    page_blueprint,
    restore_once,
)
from app.pages.regulator import REGULATORS
from app.pages.regulator_lists import NUMBER, paged_listing
from app.people import current_actor, roles_required
from app.runtime import runtime
from ledger import ids, public_reports, registry_admin, service
from ledger.errors import LedgerError
from ledger.model import Licence, LicenceKind, LicenceStatus

bp = page_blueprint("regulator_registry", __name__, url_prefix="/regulator")
LICENCE_ACTIONS = ("revoke", "suspend", "reinstate")


def _back(anchor: str = "") -> Any:
    return redirect(url_for("regulator_registry.enterprises") + anchor)


@bp.get("/enterprises")
@roles_required(REGULATORS)
def enterprises() -> Any:
    """Every enterprise with its licences, each as it stands today (the city's date)."""
    actor, today = current_actor(), runtime().today()
    with db(write=False) as s:
        files = [
            registry_admin.enterprise_file(s, actor, e.id, today)
            for e in registry_admin.list_enterprises(s, actor)
            if e.id is not None
        ]
        stations = {st.id: st.name for st in registry_admin.list_stations(s, actor)}
    standing = {
        lic.id: licence_standing(lic, valid, today) for f in files for lic, valid in f.licences
    }
    return render_template(
        "regulator/enterprises.html",
        files=files,
        standing=standing,
        stations=stations,
        once=issue_once(),
        kinds=list(LicenceKind),
    )


def licence_standing(licence: Licence, valid: bool, today: dt.date) -> str:
    """How a licence stands ``today``, as a regulator reads it: ``suspended`` or ``revoked``
    as stored (a regulator's decision, never changed here); else by its dates, as the rules
    read them (``valid``: ``ledger.registry.licence_valid``, in force from ``valid_from`` to
    ``valid_until``, both days included): ``valid``, ``expired`` or ``not_yet``."""
    if licence.status != LicenceStatus.VALID:
        return str(licence.status)
    if valid:
        return "valid"
    return "expired" if today > licence.valid_until else "not_yet"


def _once_or_back() -> bool:
    if consume_once(request.form.get("once")):
        return True
    flash(_("This form was already submitted; nothing was recorded twice."), "warning")
    return False


@bp.post("/enterprises")
@roles_required(REGULATORS)
def create_enterprise() -> Any:
    """Register an enterprise."""
    if not _once_or_back():
        return _back()
    data = {
        k: request.form.get(k, "").strip() or None for k in ("name", "credit_code", "gs1_prefix")
    }
    try:
        with db() as s:
            registry_admin.create_enterprise(s, current_actor(), data)
    except LedgerError as exc:
        restore_once(request.form.get("once"))  # nothing recorded: Back, correct, send
        flash(detail_text(exc), "error")
        return _back()
    flash(_("Enterprise registered."), "info")
    return _back()


@bp.post("/enterprises/<int:enterprise_id>/licences")
@roles_required(REGULATORS)
def issue_licence(enterprise_id: int) -> Any:
    """Record a licence of an enterprise."""
    if not _once_or_back():
        return _back()
    fields = ("kind", "number", "valid_from", "valid_until", "station_id")
    data: dict[str, Any] = {k: request.form.get(k, "").strip() or None for k in fields}
    if data["station_id"] is not None:
        number = NUMBER.fullmatch(data["station_id"]) is not None
        data["station_id"] = int(data["station_id"]) if number else -1
    try:
        with db() as s:
            registry_admin.issue_licence(s, current_actor(), enterprise_id, data)
    except LedgerError as exc:
        restore_once(request.form.get("once"))  # nothing recorded: Back, correct, send
        flash(detail_text(exc), "error")
        return _back(f"#e{enterprise_id}")
    flash(_("Licence recorded."), "info")
    return _back(f"#e{enterprise_id}")


@bp.post("/licences/<int:licence_id>")
@roles_required(REGULATORS)
def change_licence(licence_id: int) -> Any:
    """Revoke, suspend or reinstate a licence (a repeat changes nothing)."""
    action = request.form.get("action", "")
    if action not in LICENCE_ACTIONS:
        flash(_("Unknown action."), "error")
        return _back()
    try:
        with db() as s:
            registry_admin.change_licence(s, current_actor(), licence_id, action, runtime().today())
    except LedgerError as exc:
        flash(detail_text(exc), "error")
        return _back()
    flash(_("Licence updated."), "info")
    return _back()


@bp.post("/enterprises/<int:enterprise_id>/blacklist")
@roles_required(REGULATORS)
def blacklist(enterprise_id: int) -> Any:
    """Put an enterprise on the blacklist with a reason, or take it off."""
    listed = request.form.get("action") == "add"
    reason = request.form.get("reason", "").strip() if listed else None
    try:
        with db() as s:
            registry_admin.blacklist(s, current_actor(), enterprise_id, reason)
    except LedgerError as exc:
        flash(detail_text(exc), "error")
        return _back(f"#e{enterprise_id}")
    flash(_("Blacklist updated."), "info")
    return _back(f"#e{enterprise_id}")


@bp.get("/reports")
@roles_required(REGULATORS)
def reports() -> Any:
    """The public reports awaiting review (or closed ones)."""
    status = request.args.get("status", "open")
    status = status if status in public_reports.STATUSES else "open"
    paged = paged_listing(public_reports.queue_listing(current_actor(), status))
    return render_template("regulator/reports.html", rows=paged.rows, paged=paged, status=status)


@bp.post("/reports/<int:report_id>")
@roles_required(REGULATORS)
def review(report_id: int) -> Any:
    """Close a report; 'hold' also holds the cylinder (a regulator's decision, recorded)."""
    rt, actor = runtime(), current_actor()
    action, note = request.form.get("action", ""), request.form.get("note", "")
    try:
        with db() as s:
            report = public_reports.review(
                s,
                actor,
                report_id,
                "dismissed" if action == "dismiss" else "reviewed",
                note,
                rt.now(),
            )
            if action == "hold" and report.cylinder_id is not None:
                reason = f"举报核查 public report #{report_id}"
                key = ids.idempotent_id(actor, f"public-report-hold:{report_id}")
                service.append_event(
                    s,
                    rt.authority,
                    actor,
                    public_reports.cylinder_code(s, report),
                    "held",
                    {"reason": reason},
                    rt.now(),
                    event_id=key,
                    params=rt.params,
                )
    except LedgerError as exc:
        flash(detail_text(exc), "error")
        return redirect(url_for("regulator_registry.reports"))
    after_write()
    flash(_("Report closed."), "info")
    return redirect(url_for("regulator_registry.reports"))
