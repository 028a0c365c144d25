"""/c/{code}: the QR's target, for anyone with a phone (no login, nothing personal)."""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from app.pages.common import (
    db,
    detail_text,
    form_token,
    page_blueprint,
    report_kind_names,
    status_of,
)
from app.runtime import runtime
from app.security import client_key
from ledger import codes, public_reports, verification
from ledger.errors import LedgerError, NotFound
from ledger.reasons import Reason, reason

bp = page_blueprint("public", __name__)
GAS_LEAK = "leak"  # the report kind that is answered with safety advice first
LEAK_ANSWER = "leak_report_answer"  # session: (code, outcome) of this visitor's leak report


@bp.get("/c/<code>", strict_slashes=False)  # "/c/CODE/": a QR reader that adds a slash
def cylinder(code: str) -> Any:
    """The verdict on a scanned cylinder: safe to use or not, and why (after a leak
    report, what to do about the gas first)."""
    # The answer to this visitor's own leak report, once (a link cannot claim one was sent).
    answer = session.pop(LEAK_ANSWER, None)
    outcome = answer[1] if answer and answer[0] == codes.normalise(code) else None
    return _verdict(code, verification.signature_of(request.args.get("s")), leak_outcome=outcome)


def _verdict(
    code: str,
    signature: bytes | None,
    status: int = 200,
    note: str = "",
    kind: str = "",
    *,
    leak_outcome: str | None = None,
) -> tuple[str, int]:
    """The cylinder's page (or the unknown code's), its report form filled with ``note``
    and ``kind`` when a report was refused and is shown again."""
    rt = runtime()
    form = {
        "token": form_token(),
        "kinds": _kinds(),
        "note": note,
        "kind": kind,
        "leak_outcome": leak_outcome,
    }
    try:
        with db(write=False) as s:
            view = verification.public_view(s, rt.authority, code, signature, rt.now(), rt.params)
    except NotFound:
        # No form for what is not a code (full-width ＡＢＣ１２３ is alphanumeric too).
        reportable = codes.is_valid_code(codes.normalise(code))
        page = render_template(
            "public/unknown.html", code=codes.normalise(code)[:40], reportable=reportable, **form
        )
        return page, 404 if status == 200 else status
    page = render_template(
        "public/cylinder.html", v=view, dual_phase_rule=_dual_phase_rule(view), **form
    )
    return page, status


@bp.post("/c/<code>/report")
def report(code: str) -> Any:
    """File a report (举报) into the regulator's queue; never a hold by itself."""
    rt = runtime()
    sender = public_reports.sender_hash(  # an IPv6 sender counts by its /64
        client_key(request.remote_addr or "?"), current_app.config["REPORT_SALT"]
    )
    try:
        with db() as s:
            filed = public_reports.file_report(
                s,
                code,
                request.form.get("kind", ""),
                request.form.get("note", ""),
                request.form.get("token", ""),
                sender,
                rt.now(),
            )
    except public_reports.RateLimited:
        return report_too_frequent(code)
    except LedgerError as exc:  # the form again, with what was typed and why it was refused
        return _form_again(code, detail_text(exc), status_of(exc))
    if filed.created:
        outcome = _("Thank you. Your report was sent to the market regulator.")
    else:
        outcome = _("This report was already sent; it was not filed twice.")
    if filed.report.kind == GAS_LEAK:  # what to do about the gas first; the outcome in it
        session[LEAK_ANSWER] = (filed.report.code, outcome)
    else:
        flash(outcome, "info")
    return redirect(url_for("public.cylinder", code=filed.report.code, reported=filed.report.id))


def report_too_frequent(code: str) -> tuple[str, int, dict[str, str]]:
    """429 for a report from a connection that sent too many (the ledger's count per
    sender, or the rate limiter's before it): the form again, nothing typed lost; retry
    after the ledger's window (the limiter's handler sets its own)."""
    page, status = _form_again(
        code, _("Too many reports from this connection. Try again later."), 429
    )
    return page, status, {"Retry-After": str(int(public_reports.RATE_WINDOW.total_seconds()))}


def _form_again(code: str, why: str, status: int) -> tuple[str, int]:
    flash(why, "error")
    note = request.form.get("note", "")[: 2 * public_reports.MAX_NOTE]
    return _verdict(code, None, status, note, request.form.get("kind", ""))


def _dual_phase_rule(view: verification.PublicView) -> Reason | None:
    """The rule a restaurant must know though the verdict allows: dual-phase cylinders
    are never delivered to catering (``rules.delivery_check``), so never used there."""
    return reason("DUAL_PHASE_TO_RESTAURANT") if view.state.dual_phase else None


def _kinds() -> list[tuple[str, str]]:
    names = report_kind_names()
    return [(k, names[k]) for k in public_reports.KINDS]
