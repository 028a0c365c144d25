"""The whole-ledger audit for the regulator: run it, keep its verdict, read the last one.

One verdict for every way it is run (the nightly job, a regulator's request run by the
scheduler, the button on a small ledger), kept as ``last_audit.json`` in the instance
folder, which the web and the scheduler share. Always with the jurisdiction's parameters,
so the state projection is checked against the fold of the events too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.runtime import Runtime
from ledger.audit import audit
from ledger.note import verifier_from_key, verifier_key_for

FILE = "last_audit.json"


def run_and_keep(rt: Runtime, instance_path: str) -> dict[str, Any]:
    """Audit the whole ledger now; keep and return the verdict."""
    verifier = verifier_from_key(verifier_key_for(rt.authority.server))
    report = audit(rt.engine, verifier, rt.authority.origin, workers=1, params=rt.params)
    verdict = {
        "at": rt.now().isoformat(),
        "ok": report.ok,
        "ledger_ok": report.ledger_ok,
        "events": report.events,
        "checkpoints": report.checkpoints,
        "projection_checked": report.projection_checked,
        "projection_findings": len(report.projection),
        "first_bad": report.first(),
    }
    (Path(instance_path) / FILE).write_text(json.dumps(verdict, ensure_ascii=False))
    return verdict


def last_verdict(instance_path: str) -> dict[str, Any] | None:
    """The newest verdict kept, if any audit ran."""
    path = Path(instance_path) / FILE
    if not path.exists():
        return None
    try:
        verdict: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):  # a half-written file: as if none (the next run rewrites it)
        return None
    return verdict
