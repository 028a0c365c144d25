"""/regulator lists: blocked fills, overdue, expiring, stale, short weight — and their CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from typing import Any

from flask import Response, abort, render_template, request
from flask_babel import gettext as _

from app.pages.common import db, page_blueprint
from app.pages.regulator import REGULATORS, STALE_DAYS
from app.people import roles_required
from app.runtime import runtime
from ledger import oversight
from ledger.reasons import CATALOGUE

bp = page_blueprint("regulator_lists", __name__, url_prefix="/regulator")
LISTS = ("overdue", "expiring", "stale", "short-weight")


def _int_arg(name: str, default: int, upper: int) -> int:
    text = request.args.get(name, "")
    return min(int(text), upper) if text.isdigit() and int(text) > 0 else default


def _csv(name: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return Response(
        "\ufeff" + out.getvalue(),  # a BOM, so spreadsheet programs read the Chinese right
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def _blocked() -> tuple[list[oversight.BlockedFill], int, str | None, int | None]:
    days = _int_arg("days", 30, 3660)
    reason = request.args.get("reason") or None
    if reason is not None and reason not in CATALOGUE:
        abort(404)
    station = request.args.get("station", "")
    station_id = int(station) if station.isdigit() else None
    since = runtime().now() - dt.timedelta(days=days)
    with db(write=False) as s:
        rows = oversight.blocked_fills(s, since, reason=reason, station_id=station_id, limit=1000)
    return rows, days, reason, station_id


@bp.get("/blocked")
@roles_required(REGULATORS)
def blocked() -> Any:
    """The feed of refused fills, by reason and station."""
    rows, days, reason, station_id = _blocked()
    return render_template(
        "regulator/blocked.html",
        rows=rows,
        days=days,
        reason=reason,
        station=station_id,
        catalogue=CATALOGUE,
    )


@bp.get("/blocked.csv")
@roles_required(REGULATORS)
def blocked_csv() -> Response:
    """The refused fills as CSV."""
    rows, _days, _reason, _station = _blocked()
    return _csv(
        "blocked-fills",
        ["occurred_at", "code", "station_id", "station", "reasons"],
        (
            (r.at.isoformat(), r.code, r.station_id, r.station_name, " ".join(r.reasons))
            for r in rows
        ),
    )


def _list(kind: str) -> tuple[list[Any], int]:
    rt = runtime()
    now = rt.now()
    days = _int_arg("days", STALE_DAYS if kind == "stale" else 90, 3660)
    with db(write=False) as s:
        if kind == "overdue":
            return oversight.overdue(s, now.date()), days
        if kind == "expiring":
            return oversight.expiring(s, now.date(), rt.params), days
        if kind == "stale":
            return oversight.stale(s, now, days), days
        return oversight.short_weight(s, now - dt.timedelta(days=days), rt.params), days


def _titles() -> dict[str, str]:
    return {
        "overdue": _("Overdue: inspection or service life"),
        "expiring": _("Falling due soon"),
        "stale": _("Not seen for a long time"),
        "short-weight": _("Short-weight fills"),
    }


@bp.get("/cylinders/<kind>")
@roles_required(REGULATORS)
def cylinders(kind: str) -> Any:
    """One of the dashboard's lists of cylinders or fills."""
    if kind not in LISTS:
        abort(404)
    rows, days = _list(kind)
    return render_template(
        "regulator/list.html",
        kind=kind,
        rows=rows,
        days=days,
        title=_titles()[kind],
        titles=_titles(),
    )


@bp.get("/cylinders/<kind>.csv")
@roles_required(REGULATORS)
def cylinders_csv(kind: str) -> Response:
    """One list as CSV."""
    if kind not in LISTS:
        abort(404)
    rows, _days = _list(kind)
    if kind == "short-weight":
        return _csv(
            kind,
            ["occurred_at", "code", "station", "net_kg", "capacity_kg"],
            ((r.at.isoformat(), r.code, r.station_name, r.net_kg, r.capacity_kg) for r in rows),
        )
    return _csv(
        kind,
        ["code", "owner", "status", "next_inspection_due", "end_of_life", "last_event_at"],
        (
            (
                r.code,
                r.owner,
                r.status,
                r.next_inspection_due.isoformat(),
                r.end_of_life.isoformat(),
                r.last_event_at.isoformat(),
            )
            for r in rows
        ),
    )
