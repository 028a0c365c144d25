"""/regulator: the market regulator's dashboard — overview, charts, trace, EPCIS, audit."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from typing import Any

from flask import (
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlmodel import Session

from app import audits
from app.pages.common import db, detail_text, english, error_page, page_blueprint, status_of
from app.people import roles_required
from app.runtime import runtime
from ledger import audit_requests, codes, epcis, job_status, log, oversight, public_reports, trace
from ledger import daily as daily_counts
from ledger import unsigned as unsigned_events
from ledger.errors import LedgerError
from ledger.keys import KeyFileError
from ledger.model import Enterprise, Role
from ledger.note import verifier_from_key, verifier_key_for
from ledger.reasons import short_name
from ledger.unknown_scans import count_unknown_scans

bp = page_blueprint("regulator", __name__, url_prefix="/regulator")
REGULATORS = (Role.REGULATOR, Role.ADMIN)
CHART_DAYS = 60
# The blocked fills' period on the overview (tile, reasons and stations, the reasons chart):
# that of the blocked-fills list its links open (its default `days`), so the counts agree.
BLOCKED_DAYS = 30
# A cylinder filled weekly for 20 years has ~4,000 events: the trace shows the latest ones
# (its chain and proof are still verified whole) unless every event is asked for.
TRACE_LATEST = 200


def stale_days() -> int:
    """Days without an event after which a cylinder counts as stale (config STALE_DAYS)."""
    return int(current_app.config["STALE_DAYS"])


def blocked_since(now: dt.datetime) -> dt.datetime:
    """The start of the overview's blocked-fills period (the last BLOCKED_DAYS days)."""
    return now - dt.timedelta(days=BLOCKED_DAYS)


def blocked_summary(s: Session, now: dt.datetime) -> tuple[Counter[str], Counter[str]]:
    """The overview's refused fills of the period, by reason and by station; the scans of
    unregistered codes (refused checks with no chain, so no event) under their own reason,
    whose row opens their list, and not in the fills' or the stations' counts."""
    by_reason, by_station = oversight.blocked_summary(s, blocked_since(now))
    if unknown := count_unknown_scans(s, blocked_since(now)):
        by_reason["UNKNOWN_CODE"] += unknown
    return by_reason, by_station


def _verifier() -> Any:
    """The server key and its retired ones: the newest checkpoint may still be one signed
    before a rotation. A bad retired key file leaves the server key alone here (the audit
    names the file)."""
    rt = runtime()
    try:
        return audits.checkpoint_verifiers(rt)
    except KeyFileError:
        return verifier_from_key(verifier_key_for(rt.authority.server))


@bp.get("/")
@roles_required(REGULATORS)
def index() -> Any:
    """Overview: counts, charts, the ledger's status, the scheduler's daily jobs."""
    rt = runtime()
    now = rt.now()
    with db(write=False) as s:
        by_reason, by_station = blocked_summary(s, now)
        counts = {
            "reports": public_reports.open_count(s),
            "blocked": sum(by_station.values()),
            "overdue": oversight.count(s, oversight.overdue_listing(rt.params.today(now))),
            "expiring": oversight.count(
                s, oversight.expiring_listing(rt.params.today(now), rt.params)
            ),
            "stale": oversight.count(s, oversight.stale_listing(now, stale_days())),
        }
        checkpoint = log.latest_checkpoint(s)
        state = log.log_state(s)
        ledger_status = {
            "size": state.size,
            "checkpoint_size": checkpoint.size if checkpoint else None,
            "checkpoint_at": checkpoint.created_at if checkpoint else None,
            "root": checkpoint.root.hex() if checkpoint else None,
            "unsigned_since": unsigned_events.overdue(s, now),
        }
        asked = audit_requests.pending(s)
        daily_jobs = job_status.latest_runs(s, now, current_app.config["LOCAL_TIMEZONE"])
    last_audit = audits.last_verdict(current_app.instance_path)
    return render_template(
        "regulator/index.html",
        counts=counts,
        stale_days=stale_days(),
        blocked_days=BLOCKED_DAYS,
        ledger=ledger_status,
        last_audit=last_audit,
        last_audit_at=_audited_at(last_audit),
        audit_asked_at=asked.started_at if asked is not None else None,
        by_reason=by_reason.most_common(),
        by_station=by_station.most_common(),
        daily_jobs=daily_jobs,
        due_after_hours=job_status.DUE_AFTER // dt.timedelta(hours=1),
    )


def _audited_at(verdict: dict[str, Any] | None) -> dt.datetime | None:
    """When the kept verdict was reached (shown in the city's time, as every time here)."""
    try:
        at = dt.datetime.fromisoformat(str(verdict["at"])) if verdict else None
    except (KeyError, ValueError):
        return None
    return at if at is None or at.tzinfo else at.replace(tzinfo=dt.UTC)


@bp.get("/charts.json")
@roles_required(REGULATORS)
def charts() -> Any:
    """The charts' data: fills, blocks and deliveries per day (CHART_DAYS local days), blocks
    by reason (BLOCKED_DAYS: the period of the reasons table beside the chart)."""
    zone = current_app.config["BABEL_DEFAULT_TIMEZONE"]  # the regulator's days, not UTC's
    now = runtime().now()
    since, days = daily_counts.window(now, CHART_DAYS, zone)
    with db(write=False) as s:
        daily = daily_counts.per_day(s, ("filled", "fill_blocked", "delivered"), since, zone)
        by_reason, _stations = blocked_summary(s, now)
    return {
        "days": days,
        "series": {kind: [daily[kind].get(d, 0) for d in days] for kind in daily},
        "labels": {
            "filled": _("Fills"),
            "fill_blocked": _("Blocked fills"),
            "delivered": _("Deliveries"),
        },
        "by_reason": [
            {"name": short_name(code, english=english()), "value": n}
            for code, n in by_reason.most_common()
        ],
        "by_reason_days": BLOCKED_DAYS,
    }


@bp.post("/audit")
@roles_required(REGULATORS)
def run_audit() -> Any:
    """Audit every chain, the whole tree and the projection: at once on a small ledger;
    on a larger one, asked of the scheduler, which runs it in the background (minutes)."""
    rt = runtime()
    with db(write=False) as s:
        size = log.log_state(s).size
    if size > current_app.config["AUDIT_IN_REQUEST_MAX_EVENTS"]:
        with db() as s:
            asked = audit_requests.request(s, current_user.actor.name, rt.now())
        flash(
            _("Audit requested: the scheduler runs it in the background; this page shows "
              "the verdict when it is done.")
            if asked
            else _("An audit is already requested and waiting for the scheduler."),
            "info",
        )  # fmt: skip
        return redirect(url_for("regulator.index"))
    try:
        verdict = audits.run_and_keep(rt, current_app.instance_path)
    except Exception:  # kept as "not verified, why" (app.audits): shown, never a 500
        current_app.logger.exception("the audit stopped")
        verdict = audits.last_verdict(current_app.instance_path) or {"ok": False}
    flash(
        _("Audit passed.")
        if verdict["ok"]
        else _("Audit FAILED: %(bad)s", bad=verdict.get("first_bad") or ""),
        "info" if verdict["ok"] else "error",
    )
    return redirect(url_for("regulator.index"))


@bp.get("/trace")
@roles_required(REGULATORS)
def trace_page() -> Any:
    """A cylinder's timeline, its chain's verification and its inclusion proof."""
    code = request.args.get("code", "").strip()
    if not code:
        return render_template("regulator/trace.html", t=None, code="")
    try:
        with db(write=False) as s:
            t = trace.trace(s, typed_code(code), _verifier(), runtime().authority.origin)
            every = request.args.get("all") == "1"
            shown = t.entries if every else t.entries[-TRACE_LATEST:]
            return render_template("regulator/trace.html", t=t, code=code, shown=shown)
    except LedgerError as exc:
        return error_page(
            status_of(exc),
            _("No cylinder carries the code %(code)s.", code=code[:40]),
            back=url_for("regulator.trace_page"),
        )


def typed_code(text: str) -> str:
    """A code as a regulator may type or paste it: as printed on the label (in groups of
    four), in lower case, or the label's whole URL; anything else as it is (not found)."""
    try:
        return codes.parse_scan(text).code
    except codes.ScanError:
        return text


@bp.get("/trace/<code>/epcis.jsonld")
@roles_required(REGULATORS)
def epcis_export(code: str) -> Any:
    """A cylinder's events as an EPCIS 2.0 JSON-LD document."""
    rt = runtime()
    try:
        with db(write=False) as s:
            t = trace.trace(s, typed_code(code), _verifier(), rt.authority.origin)
            owner = s.get(Enterprise, t.cylinder.owner_id)
            doc = epcis.document(
                t.cylinder,
                [e.event for e in t.entries],
                owner.gs1_prefix if owner else None,
                rt.now(),
                rt.authority.origin,
            )
    except LedgerError as exc:
        return error_page(status_of(exc), detail_text(exc))
    body = json.dumps(doc, ensure_ascii=False, indent=1)
    return Response(
        body,
        mimetype="application/ld+json",
        headers={"Content-Disposition": f'attachment; filename="{t.cylinder.code}.epcis.jsonld"'},
    )
