"""/station: the nozzle page for a PC with a USB (keyboard-wedge) scanner.

A focused input takes the wedge's text; the answer fills the screen (ALLOW / BLOCK with
the reasons); an allowed cylinder's fill is recorded with the scale's gross reading and
the tare registered for the cylinder. Each form carries its own token used as the
Idempotency-Key, so a double submit records nothing twice.
"""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from flask_babel import gettext as _

from app.api.cylinders import after_write
from app.pages.common import db, detail_text, form_token, page_blueprint, status_of
from app.people import current_actor, roles_required
from app.runtime import runtime
from ledger import checks, codes, ids, service, weighing
from ledger.errors import Conflict, Invalid, LedgerError, NotFound
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
    # Each form its own key: a scan never replays the fill's key, nor the fill a scan's
    # (station.js draws a fresh scan key again at each submit, for pages shown by Back).
    context.setdefault("token", form_token())
    context.setdefault("fill_token", form_token())
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
    if current_actor().station_id is None:
        return _page(409, error=_("This account is not bound to a station."))
    return _checked(request.form.get("scan", ""), request.form.get("token") or None)


def _checked(scan: str, token: str | None, **context: Any) -> Any:
    """The check of ``scan`` at the operator's own nozzle, as a page."""
    rt, actor = runtime(), current_actor()
    assert actor.station_id is not None
    try:
        with db() as s:
            result = checks.fill_check(
                s, rt.authority, actor, actor.station_id, scan, rt.now(), rt.params, token
            )
            tare = result.state.tare_kg if result.state else None
    except Invalid:
        return _page(422, error=_("Not a cylinder code: %(scan)s", scan=scan[:60]), **context)
    except LedgerError as exc:
        return _page(status_of(exc), error=detail_text(exc), **context)
    if result.created and not result.decision.allowed:
        after_write()
    # The code on the label in front of the operator (parsed, so never a URL's first
    # characters), even when it names another: an old label after relabelling.
    code = codes.parse_scan(scan).code
    return _page(
        decision=result.decision, code=code, tare=tare, replay=not result.created, **context
    )


@bp.post("/fill")
@roles_required(OPERATORS)
def fill() -> Any:
    """Record the fill of an allowed cylinder with the scale's gross reading.

    The tare is the cylinder's registered tare, read here: never a form field, so the net
    weight on the record cannot be made up at the nozzle.
    """
    rt, actor = runtime(), current_actor()
    code, token = codes.normalise(request.form.get("code", "")), request.form.get("token")
    typed = request.form.get("gross_kg", "").strip()
    try:
        gross = float(typed.replace(",", "."))  # 31,6 too
    except ValueError:
        if _is_scan(typed) and actor.station_id is not None:
            # The wedge scanned the next cylinder into the weight field: that is a new
            # check, and the cylinder before it was not filled (nothing is recorded for it).
            unfilled = _("No fill was recorded for %(code)s.", code=code[:40])
            return _checked(typed, None, unfilled=unfilled)
        return _weigh_again(code, token, typed, _("Enter the scale's gross weight in kg."))
    try:
        with db() as s:
            cylinder = service.find_cylinder(s, code)
            tare = cylinder.tare_kg
            limit = min(weighing.gross_limit(tare, cylinder.capacity_kg), MAX_GROSS_KG)
            if not gross > tare:  # NaN too
                raise _Weight(
                    _("The gross weight must exceed the tare weight (%(tare)s kg).", tare=tare)
                )
            if gross > limit:  # a slip (316 for 31.6): it would mark the cylinder overfilled
                raise _Weight(
                    _(
                        "%(gross)s kg cannot be this cylinder's gross weight: at most %(limit)s"
                        " kg (tare + 1.5 × capacity). Check the scale and type it again.",
                        gross=gross, limit=limit,
                    )
                )  # fmt: skip
            payload = {
                "station_id": actor.station_id,
                "gross_kg": gross,
                "tare_kg": tare,
                "net_kg": round(gross - tare, 2),
            }
            result = service.append_event(
                s,
                rt.authority,
                actor,
                code,
                "filled",
                payload,
                rt.now(),
                event_id=ids.idempotent_id(actor, token),
                params=rt.params,
            )
    except _Weight as bad:
        return _weigh_again(code, token, typed, str(bad))
    except NotFound:
        return _page(404, error=_("No cylinder carries the code %(code)s.", code=code[:40]))
    except Conflict as exc:
        reasons = exc.extra.get("reasons")
        if reasons:
            return _page(409, refused=reasons, code=code)
        return _page(409, error=detail_text(exc), code=code)
    except LedgerError as exc:
        return _page(status_of(exc), error=detail_text(exc), code=code)
    after_write()
    return _page(filled=payload, code=code, warnings=result.warnings, replay=not result.created)


def _is_scan(text: str) -> bool:
    """Whether a weight field holds a scan: a label's URL, or a registered cylinder's code
    (a bare code may be as short as a typo: "abc" is a mistyped weight)."""
    try:
        scan = codes.parse_scan(text)
    except codes.ScanError:
        return False
    if "://" in text:
        return True
    with db(write=False) as s:
        try:
            service.find_cylinder(s, scan.code)
        except NotFound:
            return False
    return True


def _weigh_again(code: str, token: str | None, typed: str, why: str) -> Any:
    """A reading that cannot be recorded: the same cylinder's weighing form again, with
    what was typed and why, so the operator corrects it without scanning again (a scan
    would be another check); nothing was recorded, so the form keeps its token."""
    with db(write=False) as s:
        try:
            tare: float | None = service.find_cylinder(s, code).tare_kg
        except NotFound:
            return _page(404, error=_("No cylinder carries the code %(code)s.", code=code[:40]))
    kept = {"fill_token": token} if token else {}
    return _page(422, weigh_again=why, code=code, tare=tare, typed=typed[:20], **kept)


class _Weight(Exception):
    """A gross reading that cannot be the cylinder's (its message says why): nothing is
    recorded."""
