"""/regulator/refused: refused dispatches and deliveries (the hazards of the road checks),
a page at a time, and all of them as CSV."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Response, render_template, request

from app.pages.common import page_blueprint
from app.pages.regulator import REGULATORS
from app.pages.regulator_lists import (
    CSV_BATCH,
    csv_response,
    int_arg,
    paged_listing,
    unknown_choice,
)
from app.people import roles_required
from app.runtime import runtime
from ledger import oversight
from ledger.hazards import RefusedMove, refused_moves_listing
from ledger.payloads import BLOCKED_CHECKS

bp = page_blueprint("regulator_refused", __name__, url_prefix="/regulator")


def _listing() -> tuple[oversight.Listing[RefusedMove], dict[str, Any]]:
    days = int_arg("days", 30, 3660)
    check = request.args.get("check") or None
    if check is not None and check not in BLOCKED_CHECKS:
        unknown_choice("check", check)
    since = runtime().now() - dt.timedelta(days=days)
    return refused_moves_listing(since, check), {"days": days, "check": check}


@bp.get("/refused")
@roles_required(REGULATORS)
def refused() -> Any:
    """Refused dispatches and deliveries, newest first."""
    listing, args = _listing()
    paged = paged_listing(listing)
    return render_template("regulator/refused.html", rows=paged.rows, paged=paged, **args)


@bp.get("/refused.csv")
@roles_required(REGULATORS)
def refused_csv() -> Response:
    """Every refused dispatch and delivery of the filter as CSV."""
    listing, _args = _listing()
    header = ["occurred_at", "code", "owner", "check", "reasons", "failed_items", "vehicle",
              "customer"]  # fmt: skip
    return csv_response(
        "refused-moves",
        header,
        lambda s: (_csv_row(r) for r in oversight.each(s, listing, CSV_BATCH)),
    )


def _csv_row(r: RefusedMove) -> tuple[Any, ...]:
    failed = " ".join(r.failed_items)
    return (r.at, r.code, r.owner, r.check, " ".join(r.reasons), failed,
            r.vehicle or "", r.customer or "")  # fmt: skip
