"""The fill check at the nozzle (DESIGN §5): decide, keep the decision, record a block.

Every check is kept in ``fill_checks`` (a ``filled`` event needs a recent allowing one);
a check that blocks a known cylinder is also a ``fill_blocked`` event on its chain, so
the regulator sees every attempted illegal fill. A retry under the same
Idempotency-Key returns the first decision and records nothing new; the same key with
another code (or at another station) is a conflict.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Executable, insert
from sqlmodel import Session

from ledger import blocks, codes, facts_db, rules, scanned
from ledger.authority import Authority
from ledger.errors import Conflict, Forbidden, Invalid, NotFound
from ledger.facts import EnterpriseView, LicenceView, StationView
from ledger.ids import idempotent_id, new_id
from ledger.keys import public_bytes
from ledger.model import Actor, Cylinder, Enterprise, Event, Role
from ledger.model_rules import CylinderStateRow, FillCheck
from ledger.params import DEFAULT, Jurisdiction
from ledger.service import current_state
from ledger.state import CylinderState
from ledger.store import insert_without_waiting_for_disk, without_waiting_for_disk
from ledger.store_sqlite import POLL_WRITE_LOCK

_CHECKS = FillCheck.__table__  # type: ignore[attr-defined]
_CYLINDERS = Cylinder.__table__  # type: ignore[attr-defined]
_ENTERPRISES = Enterprise.__table__  # type: ignore[attr-defined]
_STATES = CylinderStateRow.__table__  # type: ignore[attr-defined]
_INSERT_CHECK = insert(_CHECKS)
_KEPT = ("id", "cylinder_id", "station_id", "actor_id", "code", "allowed", "decision",
         "event_id", "checked_at")  # fmt: skip
_INSERT_CHECK_UNSYNCED = insert_without_waiting_for_disk(_CHECKS, _KEPT)
# SQLite: a statement of its own, waiting for another writer's lock in short steps (as a
# transaction's BEGIN IMMEDIATE does), not in SQLite's busy handler's 1, 2, 5, 10… ms sleeps.
_INSERT_CHECK_POLLING = _INSERT_CHECK.execution_options(**{POLL_WRITE_LOCK: True})


@dataclass(frozen=True)
class CheckResult:
    """A fill check's answer; ``cylinder`` is what the answer shows of the checked cylinder
    besides its state (read with it, so the answer needs no second look-up)."""

    check_id: str
    decision: rules.Decision
    state: CylinderState | None
    created: bool
    cylinder: Header | None = None


@dataclass(frozen=True)
class Header:
    """A checked cylinder's registry line: its owner's name, registration and chain head."""

    owner_name: str | None
    registered_at: dt.datetime
    head_hash: bytes


def checking_station(
    session: Session, actor: Actor, station_id: int
) -> tuple[StationView, list[LicenceView]]:
    """The station a check is made at: the actor's own (a station device is bound to one),
    with its filling licences; and every licence of its enterprise (one query for both)."""
    if actor.role != Role.FILLING_OPERATOR:
        raise Forbidden("only a filling station makes fill checks")
    found = facts_db.station_and_licences(session, station_id)
    if found is None:
        raise NotFound(f"no station {station_id}")
    station, licences = found
    if actor.enterprise_id != station.enterprise_id or actor.station_id not in (None, station_id):
        raise Forbidden("a station checks at its own nozzle only")
    return facts_db.with_licences(station, licences), licences


def fill_check(
    session: Session,
    authority: Authority,
    actor: Actor,
    station_id: int,
    scan_text: str,
    now: dt.datetime,
    params: Jurisdiction = DEFAULT,
    idempotency_key: str | None = None,
    *,
    reads: Session | None = None,
) -> CheckResult:
    """Check a scanned cylinder for filling at a station; record the decision in ``session``.

    ``reads``: a session beside ``session`` to read the registry and the cylinder in before
    deciding (``store.reads_beside``): an allowing check then needs no transaction at all
    (its row is a statement of its own there, ``_keeper``), and on SQLite a refusing one
    holds the write lock for its rows alone. A blocking decision is recorded on PostgreSQL
    in one statement, on the condition that the chain's head is still where it was read
    (``blocks.at_once``); on SQLite, or when the chain moved, it is taken again on the
    locked chain and recorded there.
    """
    if reads is None or idempotency_key is not None:  # a keyed check reads where it writes
        reads = session
    at = checking_station(reads, actor, station_id)
    station = at[0]
    check_id = idempotent_id(actor, idempotency_key) or new_id()
    if idempotency_key is not None and (earlier := session.get(FillCheck, check_id)):
        return _replay(session, earlier, scan_text, station.id, params)
    try:
        scan = codes.parse_scan(scan_text)
    except codes.ScanError as exc:
        raise Invalid(f"不是气瓶码 / not a cylinder code: {exc}") from exc
    forged = scan.signature is not None and not codes.verify_code(
        scan.code, scan.signature, public_bytes(authority.registry)
    )
    found = scanned.resolve(reads, scan.code, params)
    decision, owner = _decide(reads, at, found, scan.code, now, params, forged)
    kept = _Kept(check_id, station.id, actor.id, scan.code, now)
    event: Event | None = None
    made: blocks.Written | None = None
    if found.head is not None and found.state is not None and not decision.allowed:
        # A block is written on the chain: signed and hashed on the head as read, before
        # any lock (SQLite's write lock is then held for the writes alone). On PostgreSQL
        # one statement writes it, if the chain's head is still where it was read.
        payload = _block_payload(station.id, decision, scan.code)
        made = blocks.sealed(authority, actor, found.head, found.state, payload, now, params)
        row = kept.row(found.cylinder_id, decision, None)
        if blocks.at_once(reads, authority, found.head, made, params, row):
            return _answer(check_id, decision, scanned.moved(found, *made), owner)
    if found.state is not None and not decision.allowed:
        # Else the head is locked, and should the chain have moved since it was read (or a
        # retired code's head be read only now), the decision is taken again and the event
        # made again on the locked head: the answer must match what is recorded.
        locked = scanned.lock(session, found, params)
        reads = session  # it holds the lock: a decision changed to allow is kept there too
        if locked.seq != found.seq:
            found, made = locked, None
            decision, owner = _decide(session, at, found, scan.code, now, params, forged)
        if not decision.allowed:
            assert found.state is not None and found.head is not None
            if made is None:
                payload = _block_payload(station.id, decision, scan.code)
                made = blocks.sealed(
                    authority, actor, found.head, found.state, payload, now, params
                )
            blocks.on_locked_head(session, authority, found.head, made, params)
            event = made[0]
            found = scanned.moved(found, *made)
    keep, statement = _keeper(session, reads) if decision.allowed else (session, _INSERT_CHECK)
    row = kept.row(found.cylinder_id, decision, event.id if event is not None else None)
    keep.connection().execute(statement, row)
    return _answer(check_id, decision, found, owner)


@dataclass(frozen=True)
class _Kept:
    """What every ``fill_checks`` row of one check holds besides its outcome."""

    check_id: str
    station_id: int
    actor_id: int | None
    code: str
    checked_at: dt.datetime

    def row(
        self, cylinder_id: str | None, decision: rules.Decision, event_id: str | None
    ) -> dict[str, Any]:
        values = (
            self.check_id, cylinder_id, self.station_id, self.actor_id, self.code,
            decision.allowed, json.dumps(decision.to_dict(), ensure_ascii=False), event_id,
            self.checked_at,
        )  # fmt: skip
        return dict(zip(_KEPT, values, strict=True))


def _block_payload(station_id: int, decision: rules.Decision, code: str) -> dict[str, Any]:
    return {"station_id": station_id, "reasons": list(decision.codes), "scan": code}


def _answer(
    check_id: str, decision: rules.Decision, found: scanned.Found, owner: EnterpriseView | None
) -> CheckResult:
    header = None
    if found.head is not None and found.registered_at is not None and not found.retired:
        owner_name = owner.name if owner is not None else None
        header = Header(owner_name, found.registered_at, found.head.head_hash)
    return CheckResult(check_id, decision, found.state, True, header)


def _decide(
    session: Session,
    at: tuple[StationView, list[LicenceView]],
    found: scanned.Found,
    code: str,
    now: dt.datetime,
    params: Jurisdiction,
    forged: bool,
) -> tuple[rules.Decision, EnterpriseView | None]:
    """The rules' decision on what was found at a station (with every licence of its
    enterprise), and the owner it was decided against."""
    station, station_licences = at
    state = found.state
    if state is None:
        return rules.unknown(code), None
    known = {station.enterprise_id: station_licences}
    if state.owner_id not in known:  # another enterprise's cylinder: its licences too
        known.update(facts_db.licences(session, [state.owner_id]))
    if found.owner is not None and found.owner[0] == state.owner_id:
        owner: EnterpriseView | None = facts_db.enterprise_view(found.owner, known[state.owner_id])
    else:
        owner = facts_db.enterprise(session, state.owner_id, known)
    if found.retired:
        return rules.unknown(code, retired=True), owner
    decision = rules.fill_check(
        state, station, owner, now, params,
        forged=forged, previous_station=_previous_station(session, state, station),
    )  # fmt: skip
    return decision, owner


def _keeper(session: Session, reads: Session) -> tuple[Session, Executable]:
    """Where and how an allowing check's ``fill_checks`` row is written: operational data,
    not evidence (a lost row costs a rescan, never a record), so never waiting for the disk.
    After reads on the connection beside the transaction, it is written there as a
    statement of its own (no BEGIN, no COMMIT): on SQLite the write lock is then held inside
    that one statement, never while Python runs between statements (a thread that lost the
    GIL kept every writer waiting: the lock's waits were 2.3 ms on average under
    bench/load.py's allowed row), and should another writer hold it, the statement tries
    again in short steps (``store_sqlite.POLL_WRITE_LOCK``); on PostgreSQL the statement
    turns off waiting for the disk for itself alone. Else (a keyed check reads where it
    writes; a decision taken again under the lock) in the transaction, likewise (SQLite's
    COMMIT never waits for the disk).
    """
    postgresql = session.get_bind().dialect.name == "postgresql"
    if reads is not session:
        return reads, _INSERT_CHECK_UNSYNCED if postgresql else _INSERT_CHECK_POLLING
    if postgresql:
        without_waiting_for_disk(session)
    return session, _INSERT_CHECK


def _previous_station(
    session: Session, state: CylinderState, station: StationView
) -> StationView | None:
    if state.last_scan_station is None or state.last_scan_station == station.id:
        return None
    return facts_db.station_alone(session, state.last_scan_station)  # its place, not licences


def _replay(
    session: Session, row: FillCheck, scan_text: str, station_id: int | None, params: Jurisdiction
) -> CheckResult:
    """The first answer under a key, if the retry asks the same: the same code at the same
    station (the API's rule: one key, one request; another body is a conflict)."""
    try:
        same = codes.parse_scan(scan_text).code == row.code and row.station_id == station_id
    except codes.ScanError:
        same = False
    if not same:
        raise Conflict(
            "此幂等键已用于另一次检查，请重新扫码 / this Idempotency-Key was used for "
            "another fill check: scan again"
        )
    state = current_state(session, row.cylinder_id, params) if row.cylinder_id else None
    return CheckResult(row.id, rules.Decision.from_dict(json.loads(row.decision)), state, False)
