"""What an audit found: problems in log order, each naming what an auditor can look up."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class AuditReport:
    """Everything the audit found, in log order."""

    events: int = 0
    leaves: int = 0
    checkpoints: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)  # (leaf order, message)
    # 0 for a problem of one event, 1 for one of the tree or a checkpoint: the verdict
    # names an event when there is one, since that is what an auditor looks up.
    ranks: list[int] = field(default_factory=list)
    # Rows of the state projection (derived data, a cache) that differ from the fold of the
    # events: a finding of a lesser kind than a broken ledger, repaired by rebuilding them.
    projection: list[str] = field(default_factory=list)
    projection_checked: bool = False
    # Registrations of event ids out of step with the events (``ledger.audit_event_ids``):
    # derived data too, repaired by registering the events again.
    event_ids: list[str] = field(default_factory=list)
    event_ids_unlisted: int = 0  # more of them than the audit lists
    # Rows of ``fill_weights`` (the short-weight list's table) out of step with the events
    # (``ledger.audit_fill_weights``): derived data too, checked beside the projection.
    fill_weights: list[str] = field(default_factory=list)

    @property
    def event_id_findings(self) -> int:
        """How many registrations are out of step, listed or not."""
        return len(self.event_ids) + self.event_ids_unlisted

    # Leaves beyond the largest checkpoint (all of them when there is none): a warning, never
    # a failure, since the scheduler signs every few seconds and a fresh log waits a moment.
    unsigned: int = 0

    @property
    def ledger_ok(self) -> bool:
        """True when the evidence verifies: chains, signatures, revocations, tree, checkpoints."""
        return not self.problems

    @property
    def ok(self) -> bool:
        """True when nothing was found wrong, the derived tables included."""
        derived = self.projection or self.event_id_findings or self.fill_weights
        return not self.problems and not derived

    def add(self, order: int, message: str, *, structural: bool = False) -> None:
        """Record a problem; order is its leaf index (or later, for unintegrated events)."""
        self.problems.append((order, message))
        self.ranks.append(int(structural))

    def in_order(self) -> list[str]:
        """Every problem: those of events first, then of the tree or checkpoints, each kind
        in log order."""
        return [m for _rank, (_order, m) in sorted(zip(self.ranks, self.problems, strict=True))]

    def first(self) -> str | None:
        """The earliest problem in log order (else the first derived data's finding)."""
        if not self.problems:
            return next(iter(self.projection + self.event_ids + self.fill_weights), None)
        return self.in_order()[0]
