"""The audit command's presentation: a progress bar and a verdict naming the first bad event."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TimeRemainingColumn,
)
from sqlalchemy import func, select
from sqlmodel import Session

from app.audits import checkpoint_verifiers
from app.runtime import Runtime
from ledger.audit import audit
from ledger.audit_event_ids import REPAIR
from ledger.audit_report import AuditReport
from ledger.audit_witness import WitnessError, load_witnesses
from ledger.keys import KeyFileError
from ledger.model import Event
from ledger.note import NoteError, verifier_from_key


def run_audit(
    rt: Runtime, vkeys: list[str], workers: int | None, witness: Path | None = None
) -> int:
    """Audit the runtime's database; 0 when everything verifies, 1 otherwise, 2 when the
    keys or the witness file given cannot be used.

    A checkpoint verifies when any of ``vkeys`` signed it (a key rotation's old and new
    keys); with none given, this instance's own key and its retired ones (docs/deploy.md §9),
    read and never created. ``witness``: a file of checkpoints kept outside the database
    that the log must contain (``ledger.audit_witness``).
    """
    console = Console(stderr=True)
    origin = rt.origin if not vkeys else None
    try:
        verifiers = [verifier_from_key(k) for k in vkeys] or checkpoint_verifiers(rt, create=False)
        witnessed = load_witnesses(witness, verifiers, origin) if witness else []
    except NoteError as exc:
        console.print(f"验证公钥有误 bad --key: {exc}", style="red", markup=False, soft_wrap=True)
        return 2
    except (KeyFileError, WitnessError) as exc:
        console.print(str(exc), style="red", markup=False, highlight=False, soft_wrap=True)
        return 2
    with Session(rt.engine) as session:
        total = session.execute(select(func.count()).select_from(Event)).scalar_one()
    columns = (
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, disable=total < 10_000) as bar:
        task = bar.add_task("审计 auditing events", total=total)
        try:
            report = audit(
                rt.engine,
                verifiers,
                origin,
                workers=workers,
                progress=lambda n: _advance(bar, task, n),
                params=rt.params,
                witnesses=witnessed,
            )
        except Exception as exc:  # a verdict, never a traceback
            print(
                f"FAILED 审计未能完成，账本未获验证 / the audit stopped, the ledger is NOT "
                f"verified: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
            )
            return 1
    summary = f"{report.events} events, {report.leaves} leaves, {report.checkpoints} checkpoints"
    if report.ok:
        print(f"OK 审计通过: {summary} verified")
        _print_unsigned(report.unsigned)
        return 0
    if report.ledger_ok:
        print(f"OK 账本完整: {summary} verified (chains, signatures, tree, checkpoints)")
    else:
        print(f"FAILED 审计未通过: {len(report.problems)} problem(s) in {summary}")
        first, *others = report.in_order()
        print(f"first bad: {first}")
        for message in others[:19]:
            print(f"  also: {message}")
    if report.projection:
        _print_projection(report.projection)
    if report.event_ids:
        _print_event_ids(report)
    if report.fill_weights:
        _print_fill_weights(report.fill_weights)
    _print_unsigned(report.unsigned)
    return 1


def _print_unsigned(leaves: int) -> None:
    """Leaves no checkpoint signs yet: a warning (the scheduler signs every few seconds)."""
    if leaves:
        print(f"注意 unsigned: {leaves} leaves are not yet covered by any checkpoint")


def _print_projection(findings: list[str]) -> None:
    """Projection findings: derived data, a lesser kind than a broken ledger."""
    print(
        f"PROJECTION 状态投影不一致: {len(findings)} cylinder(s) whose cylinder_states row "
        "differs from the fold of its events. The events (the evidence) are not affected; "
        "fill checks read this cache, so repair it: flask --app wsgi ledger rebuild-states"
    )
    for message in findings[:20]:
        print(f"  projection: {message}")


def _print_fill_weights(findings: list[str]) -> None:
    """fill_weights findings: derived data read by the regulator's short-weight list."""
    print(
        f"FILL_WEIGHTS 称重记录不一致: {len(findings)} finding(s). The events (the evidence) "
        "are not affected; the short-weight list reads this table, so repair it: "
        "flask --app wsgi ledger rebuild-fill-weights"
    )
    for message in findings[:20]:
        print(f"  fill_weights: {message}")


def _print_event_ids(report: AuditReport) -> None:
    """event_ids findings: derived data, like the projection, but a retry could duplicate."""
    total = report.event_id_findings
    print(
        f"EVENT_IDS 事件编号登记不一致: {total} finding(s). The events (the evidence) are "
        "not affected, but an event missing from event_ids is not found by its id, so a "
        f"retry of that id would record it again: repair with {REPAIR}"
    )
    for message in report.event_ids[:20]:
        print(f"  event_ids: {message}")
    if total > 20:
        print(f"  event_ids: … 另有 {total - 20} 条未列出 / {total - 20} more not listed")


def _advance(bar: Progress, task: TaskID, done: int) -> None:
    """Move the bar on; events appended since it was counted raise its total, so it never
    reads "29793/29792"."""
    bar.advance(task, done)
    here = next(t for t in bar.tasks if t.id == task)
    if here.total is not None and here.completed > here.total:
        bar.update(task, total=here.completed)
