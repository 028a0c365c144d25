"""The whole-ledger audit for the regulator: run it, keep its verdict, read the last one.

One verdict for every way it is run (the nightly job, a regulator's request run by the
scheduler, the button on a small ledger), kept as ``last_audit.json`` in the instance
folder, which the web and the scheduler share. Always with the jurisdiction's parameters,
so the state projection is checked against the fold of the events too.

Checkpoints verify under this instance's key or any retired one (``checkpoint_verifiers``,
docs/deploy.md §9); a bad retired key file is a failed verdict that names the file. The
last checkpoint this server signed (``<KEYS_DIR>/last-checkpoint``) is a witness the log
must still hold: a log rolled back or rewritten in the database alone fails the verdict.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.runtime import Runtime
from ledger import checkpoint_memory
from ledger.audit import audit
from ledger.audit_report import AuditReport
from ledger.audit_witness import Witnessed, WitnessError, load_witnesses
from ledger.keys import RETIRED_DIR, KeyFileError, retired_verifiers
from ledger.note import Verifier, verifier_from_key, verifier_key_for
from ledger.whole_files import write_whole

FILE = "last_audit.json"


def checkpoint_verifiers(rt: Runtime, *, create: bool = True) -> list[Verifier]:
    """The keys this instance's checkpoints may be signed with: the server key and every
    retired one in ``<KEYS_DIR>/retired/``, read afresh at each audit (a ``.vkey`` put there
    counts from the next audit on). Raises KeyFileError naming a bad file. The web and the
    scheduler sign with the server key, so for them it is created on first use, as any of
    their uses does; ``create=False`` (``ledger audit``) only reads it, and KeyFileError
    names the file when there is none."""
    if create:
        current = verifier_from_key(verifier_key_for(rt.authority.server))
    else:
        current = rt.keyring.server_verifier()
    if rt.keys_dir is None:
        return [current]
    return [current, *retired_verifiers(rt.keys_dir / RETIRED_DIR, rt.origin)]


def run_and_keep(rt: Runtime, instance_path: str) -> dict[str, Any]:
    """Audit the whole ledger now; keep and return the verdict."""
    try:
        verifiers = checkpoint_verifiers(rt)
        witnessed = _last_signed(rt, verifiers)
    except (KeyFileError, WitnessError) as exc:  # nothing verified: a failed verdict, why
        verdict = _not_verified(rt, str(exc))
    else:
        try:
            report = audit(
                rt.engine, verifiers, rt.origin, workers=1, params=rt.params, witnesses=witnessed
            )
        except Exception as exc:
            # The database away, or data the audit cannot read: tonight's verdict is "not
            # verified, and why" (never last night's OK), and the job fails as such.
            why = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
            _keep(instance_path, _not_verified(rt, f"审计未能完成 the audit stopped: {why}"[:300]))
            raise
        verdict = _verdict(rt, report)
    try:
        _keep(instance_path, verdict)
    except OSError as exc:
        raise VerdictNotKept(verdict, exc) from exc
    return verdict


class VerdictNotKept(OSError):
    """The audit finished but its verdict file could not be written (a full disk): the
    verdict is here, for a caller that records it elsewhere."""

    def __init__(self, verdict: dict[str, Any], error: OSError) -> None:
        super().__init__(error.errno, f"audit verdict not written: {error}")
        self.verdict = verdict


def _keep(instance_path: str, verdict: dict[str, Any]) -> None:
    write_whole(Path(instance_path) / FILE, json.dumps(verdict, ensure_ascii=False))


def _not_verified(rt: Runtime, why: str) -> dict[str, Any]:
    """The verdict of an audit that verified nothing: failed, and why."""
    verdict = {**_verdict(rt, AuditReport()), "ok": False, "ledger_ok": False}
    verdict.update(first_bad=why, error=why)
    return verdict


def _last_signed(rt: Runtime, verifiers: list[Verifier]) -> list[Witnessed]:
    """The last checkpoint this server signed, kept beside its key: the database's log must
    still hold it (a log rolled back or rewritten in the database alone fails the audit)."""
    memory = checkpoint_memory.path_in(rt.keys_dir)
    if memory is None or not memory.exists():
        return []
    return load_witnesses(memory, verifiers, rt.origin)


def _verdict(rt: Runtime, report: AuditReport) -> dict[str, Any]:
    return {
        "at": rt.now().isoformat(),
        "ok": report.ok,
        "ledger_ok": report.ledger_ok,
        "events": report.events,
        "checkpoints": report.checkpoints,
        "unsigned": report.unsigned,
        "projection_checked": report.projection_checked,
        "projection_findings": len(report.projection),
        "event_id_findings": report.event_id_findings,
        "fill_weight_findings": len(report.fill_weights),
        "first_bad": report.first(),
    }


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
