"""/regulator lists: blocked fills, overdue, expiring, stale, short weight — and their CSV.

Each list is counted in full and shown a page at a time (LIST_PAGE_SIZE rows); its CSV
export streams every row, however many.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

from flask import (
    Response,
    abort,
    current_app,
    make_response,
    render_template,
    request,
    stream_with_context,
)
from flask_babel import gettext as _
from sqlmodel import Session

from app.pages.common import db, error_page, page_blueprint
from app.pages.regulator import BLOCKED_DAYS, REGULATORS, stale_days
from app.people import roles_required
from app.runtime import runtime
from ledger import oversight
from ledger.reasons import CATALOGUE
from ledger.unknown_scans import unknown_scans_listing

bp = page_blueprint("regulator_lists", __name__, url_prefix="/regulator")
LISTS = ("overdue", "expiring", "stale", "short-weight")
CSV_BATCH = 500
NUMBER = re.compile(r"[0-9]{1,9}")  # ASCII digits only ("²".isdigit() is True), no overflow
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet may read as a formula
# A scan of an unregistered code has no chain for a fill_blocked event: it is a refused
# fill check only, and the blocked-fills list of this reason shows those (ledger.unknown_scans).
UNKNOWN = "UNKNOWN_CODE"


@dataclass(frozen=True)
class Paged:
    """One page of a list: its rows, where they start, and how many the list has."""

    rows: list[Any]
    first: int  # 1-based number of the first row shown
    total: int
    page: int
    pages: int


def int_arg(name: str, default: int, upper: int) -> int:
    """A whole-number query argument: absent, empty or 0 is the default, more than
    ``upper`` is ``upper``; anything but 1–9 ASCII digits is a 400 page (before any CSV)."""
    text = request.args.get(name, "")
    if text == "":
        return default
    if NUMBER.fullmatch(text) is None:
        bad_arg(name)
    return min(int(text), upper) if int(text) > 0 else default


def bad_arg(name: str) -> NoReturn:
    """Stop the request with a 400 page naming the query argument that is not valid."""
    text = _("The query value “%(name)s” is not valid: use a whole number.", name=name)
    abort(make_response(*error_page(400, text)))


def unknown_choice(name: str, value: str) -> NoReturn:
    """Stop the request with a 400 page naming a filter's value that is none of its choices
    (a hand-edited or stale address: the page's own links only carry known ones)."""
    text = _("No “%(name)s” is called “%(value)s”: choose one on the page.", name=name,
             value=value[:40])  # fmt: skip
    abort(make_response(*error_page(400, text)))


def paged_listing(listing: oversight.Listing[Any]) -> Paged:
    size = max(1, int(current_app.config["LIST_PAGE_SIZE"]))
    wanted = int_arg("page", 1, 10**6)
    with db(write=False) as s:
        total = oversight.count(s, listing)
        pages = max(1, -(-total // size))
        number = min(wanted, pages)
        rows = oversight.page(s, listing, (number - 1) * size, size)
    return Paged(rows, (number - 1) * size + 1, total, number, pages)


def csv_response(
    name: str, header: Sequence[str], rows_of: Callable[[Session], Iterable[Sequence[Any]]]
) -> Response:
    """Every row as CSV, streamed in batches (no limit, nothing held in memory)."""

    def generate() -> Iterator[str]:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(header)
        zone = ZoneInfo(current_app.config["LOCAL_TIMEZONE"])  # times as the pages show them
        # PostgreSQL streams through a server-side cursor, which needs a transaction (page
        # reads there are autocommit); SQLite streams from a plain read, where a write
        # transaction would hold its one write lock for the whole export.
        with db(write=_dialect() == "postgresql") as s:
            for n, row in enumerate(rows_of(s), start=1):
                writer.writerow([csv_cell(cell, zone) for cell in row])
                if n % CSV_BATCH == 0:
                    yield out.getvalue()
                    out.seek(0)
                    out.truncate()
        yield out.getvalue()

    return Response(
        # A BOM first, so spreadsheet programs read the Chinese right.
        stream_with_context(_prefixed("\ufeff", generate())),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def csv_cell(value: Any, zone: ZoneInfo) -> Any:
    """A cell a spreadsheet will not run: text that could start a formula gets a leading
    ``'`` (OWASP's advice against CSV injection); numbers stay numbers; a time is the
    city's (``2026-12-05T07:30:00+08:00``), as on the pages, so a day filter in Excel holds."""
    if isinstance(value, dt.datetime):
        return value.astimezone(zone).isoformat(timespec="seconds")
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _prefixed(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


def _blocked_listing() -> tuple[oversight.Listing[Any], dict[str, Any]]:
    days = int_arg("days", BLOCKED_DAYS, 3660)
    reason = request.args.get("reason") or None
    if reason is not None and reason not in CATALOGUE:
        unknown_choice("reason", reason)
    station_id = int_arg("station", 0, 10**9) or None
    since = runtime().now() - dt.timedelta(days=days)
    listing: oversight.Listing[Any]
    if reason == UNKNOWN:
        listing = unknown_scans_listing(since, station_id)
    else:
        listing = oversight.blocked_listing(
            since, dialect=_dialect(), reason=reason, station_id=station_id
        )
    args = {"days": days, "reason": reason, "station": station_id, "unknown": reason == UNKNOWN}
    return listing, args


@bp.get("/blocked")
@roles_required(REGULATORS)
def blocked() -> Any:
    """The feed of refused fills, by reason and station (an unregistered code's: its scans)."""
    listing, args = _blocked_listing()
    paged = paged_listing(listing)
    return render_template(
        "regulator/blocked.html", rows=paged.rows, paged=paged, catalogue=CATALOGUE, **args
    )


@bp.get("/blocked.csv")
@roles_required(REGULATORS)
def blocked_csv() -> Response:
    """Every refused fill of the filter as CSV (an unregistered code's: its scans)."""
    listing, args = _blocked_listing()
    if args["unknown"]:
        return csv_response(
            "unregistered-code-scans",
            ["checked_at", "code", "station_id", "station", "operator"],
            lambda s: (
                (r.at, r.code, r.station_id, r.station_name, r.operator)
                for r in oversight.each(s, listing, CSV_BATCH)
            ),
        )
    return csv_response(
        "blocked-fills",
        ["occurred_at", "code", "station_id", "station", "reasons"],
        lambda s: (
            (r.at, r.code, r.station_id, r.station_name, " ".join(r.reasons))
            for r in oversight.each(s, listing, CSV_BATCH)
        ),
    )


def _listing(kind: str) -> tuple[oversight.Listing[Any], int]:
    rt = runtime()
    now = rt.now()
    days = int_arg("days", stale_days() if kind == "stale" else 90, 3660)
    if kind == "overdue":
        return oversight.overdue_listing(rt.params.today(now)), days
    if kind == "expiring":
        return oversight.expiring_listing(rt.params.today(now), rt.params), days
    if kind == "stale":
        return oversight.stale_listing(now, days), days
    since = now - dt.timedelta(days=days)
    return oversight.short_weight_listing(since, rt.params), days


def _dialect() -> str:
    return runtime().engine.dialect.name


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
    """One of the dashboard's lists of cylinders or fills, a page at a time."""
    if kind not in LISTS:
        abort(404)
    listing, days = _listing(kind)
    paged = paged_listing(listing)
    return render_template(
        "regulator/list.html",
        kind=kind,
        rows=paged.rows,
        paged=paged,
        days=days,
        title=_titles()[kind],
        titles=_titles(),
    )


@bp.get("/cylinders/<kind>.csv")
@roles_required(REGULATORS)
def cylinders_csv(kind: str) -> Response:
    """One whole list as CSV."""
    if kind not in LISTS:
        abort(404)
    listing, _days = _listing(kind)
    if kind == "short-weight":
        return csv_response(
            kind,
            ["occurred_at", "code", "station", "net_kg", "capacity_kg"],
            lambda s: (
                (r.at, r.code, r.station_name, r.net_kg, r.capacity_kg)
                for r in oversight.each(s, listing, CSV_BATCH)
            ),
        )
    return csv_response(
        kind,
        ["code", "owner", "status", "next_inspection_due", "end_of_life", "last_event_at"],
        lambda s: (
            (
                r.code,
                r.owner,
                r.status,
                r.next_inspection_due.isoformat(),
                r.end_of_life.isoformat(),
                r.last_event_at,
            )
            for r in oversight.each(s, listing, CSV_BATCH)
        ),
    )
