"""/station: the nozzle page for a PC with a USB (keyboard-wedge) scanner.

A focused input takes the wedge's text; the answer fills the screen (ALLOW / BLOCK with
the reasons); an allowed cylinder's fill is recorded with the scale reading. Each form
carries a token used as the Idempotency-Key, so a double submit records nothing twice.
"""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from flask_babel import gettext as _

from app.api.cylinders import after_write
from app.pages.common import db, detail_text, form_token, page_blueprint, status_of
from app.people import current_actor, roles_required
from app.runtime import runtime
from ledger import checks, service
from ledger.errors import Conflict, Invalid, LedgerError
from ledger.model import Role, Station

bp = page_blueprint("station", __name__, url_prefix="/station")
OPERATORS = (Role.FILLING_OPERATOR,)
MAX_GROSS_KG = 200.0


def _station_name(station_id: int | None) -> str:
    if station_id is None:
        return ""
    with db(write=False) as s:
        station = s.get(Station, station_id)
        return station.name if station else ""


def _page(status: int = 200, **context: Any) -> Any:
    actor = current_actor()
    context.setdefault("token", form_token())
    return render_template(
        "station/index.html", station=_station_name(actor.station_id), **context
    ), status


@bp.get("/")
@roles_required(OPERATORS)
def index() -> Any:
    """The scan input, waiting for the wedge."""
    if current_actor().station_id is None:
        return _page(409, error=_("This account is not bound to a station."))
    return _page()


@bp.post("/check")
@roles_required(OPERATORS)
def check() -> Any:
    """Check a scanned cylinder at this nozzle: ALLOW or BLOCK, full screen."""
    rt, actor = runtime(), current_actor()
    scan, token = request.form.get("scan", ""), request.form.get("token") or None
    if actor.station_id is None:
        return _page(409, error=_("This account is not bound to a station."))
    try:
        with db() as s:
            result = checks.fill_check(
                s, rt.authority, actor, actor.station_id, scan, rt.now(), rt.params, token
            )
            tare = result.state.tare_kg if result.state else None
    except Invalid:
        return _page(422, error=_("Not a cylinder code: %(scan)s", scan=scan[:60]))
    except LedgerError as exc:
        return _page(status_of(exc), error=detail_text(exc))
    if result.created and not result.decision.allowed:
        after_write()
    code = result.state.code if result.state else scan.strip()[:20]
    return _page(decision=result.decision, code=code, tare=tare, replay=not result.created)


@bp.post("/fill")
@roles_required(OPERATORS)
def fill() -> Any:
    """Record the fill of an allowed cylinder with the scale's gross reading."""
    rt, actor = runtime(), current_actor()
    code, token = request.form.get("code", "").strip().upper(), request.form.get("token")
    try:
        gross = float(request.form.get("gross_kg", ""))
        tare = float(request.form.get("tare_kg", ""))
    except ValueError:
        return _page(422, error=_("Enter the scale's gross weight in kg."), code=code)
    if not 0 < gross <= MAX_GROSS_KG or gross <= tare:
        return _page(422, error=_("The gross weight must exceed the tare weight."), code=code)
    payload = {
        "station_id": actor.station_id,
        "gross_kg": gross,
        "tare_kg": tare,
        "net_kg": round(gross - tare, 2),
    }
    try:
        with db() as s:
            result = service.append_event(
                s,
                rt.authority,
                actor,
                code,
                "filled",
                payload,
                rt.now(),
                event_id=service.idempotent_id(actor, token),
                params=rt.params,
            )
    except Conflict as exc:
        reasons = exc.extra.get("reasons")
        if reasons:
            return _page(409, refused=reasons, code=code)
        return _page(409, error=detail_text(exc), code=code)
    except LedgerError as exc:
        return _page(status_of(exc), error=detail_text(exc), code=code)
    after_write()
    return _page(filled=payload, code=code, warnings=result.warnings, replay=not result.created)
