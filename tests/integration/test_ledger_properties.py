"""Properties of the whole ledger on SQLite and PostgreSQL.

A valid history, whatever its shape, audits clean and proves every event into
the log; an insider who edits the database (dropping the append-only triggers
and foreign keys first) is caught, and the audit points at what was touched.

Each hypothesis example empties the ledger tables of the test's database and
builds a small ledger from scratch (the registry of actors is kept).
"""

from __future__ import annotations

import base64
import datetime as dt
import gc
import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import combinations_with_replacement
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, create_engine, select, text, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from ledger import log, merkle, registry, service, writer
from ledger.audit import AuditReport, audit
from ledger.authority import Authority, ensure_server_key
from ledger.checkpoint import open_checkpoint
from ledger.errors import Invalid
from ledger.events import payload_text
from ledger.ids import new_id
from ledger.model import Actor, Checkpoint, Event, Role
from ledger.note import generate_signer_key, signer_from_key, verifier_from_key, verifier_key_for
from ledger.payloads import CHECKLIST_ITEMS, INSPECTION_RESULTS, REPORT_KINDS, validate_payload
from ledger.store import make_engine, transaction

ORIGIN = "ledger.test/log"
AUTHORITY = Authority(
    server=signer_from_key(generate_signer_key(ORIGIN)),
    registry=signer_from_key(generate_signer_key("registry")),
    base_url="https://ledger.test",
    origin=ORIGIN,
)
VERIFIER = verifier_from_key(verifier_key_for(AUTHORITY.server))
NOW = dt.datetime(2026, 11, 23, 6, 0, tzinfo=dt.UTC)

APPEND_ONLY = ("events", "log_leaves", "checkpoints")
LEDGER_TABLES = (
    "log_pending", "log_leaves", "checkpoints", "merkle_tiles", "log_state", "events",
    "fill_checks", "retired_codes", "cylinder_states", "cylinders",
)  # fmt: skip
FAST = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# --- the world: one enterprise, two stations, an actor for every role ------------------------


@dataclass(frozen=True)
class World:
    engine: Engine  # the application's engine (pragmas, BEGIN IMMEDIATE)
    raw: Engine  # the insider's plain engine: no foreign keys on SQLite
    actors: dict[str, int]
    stations: tuple[int, int]
    sqlite_triggers: tuple[str, ...]

    @property
    def sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"


@pytest.fixture
def world(engine: Engine, db_url: str) -> Iterator[World]:
    with transaction(engine) as s:
        ensure_server_key(s, AUTHORITY)
        ent = registry.add_enterprise(s, "重庆渝安燃气有限公司")
        first = registry.add_station(s, ent, "渝安充装站")
        second = registry.add_station(s, ent, "渝北充装站")
        people = {
            "admin": registry.add_actor(s, "管理员", Role.ENTERPRISE_ADMIN, enterprise=ent),
            "operator": registry.add_actor(
                s, "充装枪1号", Role.FILLING_OPERATOR, enterprise=ent, station=first
            ),
            "driver": registry.add_actor(s, "张师傅", Role.DRIVER, enterprise=ent),
            "inspector": registry.add_actor(s, "重庆特检院", Role.INSPECTOR),
            "regulator": registry.add_actor(s, "渝北区市场监管局", Role.REGULATOR),
        }
        actors = {role: actor.id for role, (actor, _token) in people.items()}
        stations = (first.id, second.id)
    triggers: tuple[str, ...] = ()
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            triggers = tuple(
                conn.execute(text("SELECT sql FROM sqlite_master WHERE type = 'trigger'")).scalars()
            )
        assert len(triggers) == 2 * len(APPEND_ONLY)
        raw = create_engine(db_url)
    else:
        raw = make_engine(db_url)
    yield World(engine, raw, actors, stations, triggers)  # type: ignore[arg-type]
    raw.dispose()


@contextmanager
def insider(world: World) -> Iterator[Connection]:
    """A connection of someone who can edit the database: append-only triggers and FKs are off."""
    with world.raw.begin() as conn:
        if world.sqlite:
            for table in APPEND_ONLY:
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_update")
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        else:  # a superuser's session: no trigger fires, the foreign keys' neither
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        yield conn


def reset(world: World) -> None:
    """Empty the ledger (events, log, checkpoints, cylinders) and restore the triggers."""
    with insider(world) as conn:
        if world.sqlite:
            for table in LEDGER_TABLES:
                conn.exec_driver_sql(f"DELETE FROM {table}")
            for sql in world.sqlite_triggers:
                conn.exec_driver_sql(sql)
        else:
            for table in (*LEDGER_TABLES, "event_ids"):  # event_ids: PostgreSQL only
                conn.exec_driver_sql(f"DELETE FROM {table}")


# --- histories -----------------------------------------------------------------------------

ROLE_OF = {
    "filled": "operator", "fill_blocked": "operator", "dispatched": "driver",
    "delivered": "driver", "returned": "driver", "inspected": "inspector",
    "relabelled": "admin", "ownership_transferred": "regulator", "reported": "inspector",
    "held": "regulator", "released": "regulator", "scrapped": "inspector",
}  # fmt: skip
STATION = -1  # placeholder for the world's first station id (payloads are drawn before the world)

words = st.text(min_size=1, max_size=12).filter(str.strip)
# Registry text is printed on nameplates: no control characters (the ledger refuses them).
# Registry text is printed on nameplates: no control characters (the ledger refuses them).
PRINTABLE = st.characters(
    exclude_categories=("Cs", "Cc", "Zl", "Zp"),  # also no noncharacters or bidi controls:
    exclude_characters="\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
    + "".join(map(chr, range(0xFDD0, 0xFDF0)))
    + "".join(chr(plane << 16 | low) for plane in range(17) for low in (0xFFFE, 0xFFFF)),
)
registry_words = st.text(PRINTABLE, min_size=1, max_size=12).filter(str.strip)
kilograms = st.integers(0, 200) | st.floats(0, 200, allow_nan=False, allow_infinity=False)
ids = st.integers(1, 2**31 - 1)  # ids are 32-bit integer columns on PostgreSQL
days = st.dates(dt.date(2000, 1, 1), dt.date(2026, 11, 23)).map(dt.date.isoformat)


def _payload(required: dict[str, Any], optional: dict[str, Any]) -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries(
        {k: v if isinstance(v, st.SearchStrategy) else st.just(v) for k, v in required.items()},
        optional=optional,
    )


PAYLOADS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "filled": _payload({"station_id": STATION, "gross_kg": kilograms, "net_kg": kilograms},
                       {"tare_kg": kilograms}),
    "fill_blocked": _payload({"station_id": STATION,
                              "reasons": st.lists(st.sampled_from(["HELD", "NOT_OWNED"]),
                                                  min_size=1, max_size=3)},
                             {"scan": st.from_regex(r"[A-Z0-9]{1,20}", fullmatch=True)}),
    "dispatched": _payload({"vehicle": st.text(min_size=1, max_size=16).filter(str.strip)},
                           {"driver": ids}),
    "delivered": _payload({"customer_id": ids,
                           "checklist": st.fixed_dictionaries(
                               {item: st.booleans() for item in CHECKLIST_ITEMS})}, {}),
    "returned": _payload({}, {"customer_id": ids}),
    "inspected": _payload({"result": st.sampled_from(INSPECTION_RESULTS)},
                          {"next_due": days, "agency": words}),
    "relabelled": _payload({"new_code": st.text(min_size=1, max_size=20).filter(str.strip)}, {}),
    "ownership_transferred": _payload({"to_enterprise": ids}, {}),
    "reported": _payload({"kind": st.sampled_from(REPORT_KINDS)}, {"note": words}),
    "held": _payload({"reason": words}, {}),
    "released": _payload({}, {"reason": words}),
    "scrapped": _payload({}, {"reason": words}),
}  # fmt: skip

OFFSETS = st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=8)),
                           dt.timezone(-dt.timedelta(hours=5, minutes=30))])  # fmt: skip
occurred = st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2026, 11, 22), timezones=OFFSETS)


@st.composite
def registrations(draw: st.DrawFn) -> dict[str, Any]:
    made = draw(st.dates(dt.date(1995, 1, 1), NOW.date()))
    inspected = draw(st.none() | st.dates(made, NOW.date()))
    positive = {"allow_nan": False, "allow_infinity": False, "exclude_min": True}
    return {
        "serial": draw(registry_words),
        "manufacturer": draw(registry_words),
        "manufactured_on": made.isoformat(),
        "model": draw(registry_words),
        "capacity_kg": draw(st.floats(0, 100, **positive) | st.integers(1, 100)),
        "tare_kg": draw(st.floats(0, 200, **positive)),
        "dual_phase": draw(st.booleans()),
        "last_inspected_on": inspected and inspected.isoformat(),
        "service_life_years": draw(st.none() | st.integers(1, 50)),
    }


@dataclass(frozen=True)
class Step:
    """One transaction of a history: record an event, integrate, or publish a checkpoint."""

    kind: str  # "event" | "integrate" | "checkpoint"
    cylinder: int = 0  # which of the history's cylinders (registered on first use)
    type: str = "registered"  # "registered": only make sure the cylinder exists
    payload: dict[str, Any] = field(default_factory=dict)
    occurred_at: dt.datetime | None = None
    elapsed: dt.timedelta = dt.timedelta(seconds=1)  # server clock advance before this step


@dataclass(frozen=True)
class History:
    registrations: list[dict[str, Any]]
    steps: list[Step]


@st.composite
def histories(draw: st.DrawFn, max_steps: int = 10) -> History:
    cylinders = draw(st.integers(1, 4))
    steps = []
    for _ in range(draw(st.integers(1, max_steps))):
        kind = draw(st.sampled_from(["event", "event", "event", "integrate", "checkpoint"]))
        elapsed = dt.timedelta(microseconds=draw(st.integers(1, 10**10)))
        if kind != "event":
            steps.append(Step(kind, elapsed=elapsed))
            continue
        event_type = draw(st.sampled_from(["registered", *PAYLOADS]))
        steps.append(
            Step(
                kind,
                cylinder=draw(st.integers(0, cylinders - 1)),
                type=event_type,
                payload=draw(PAYLOADS[event_type]) if event_type in PAYLOADS else {},
                occurred_at=draw(st.none() | occurred),
                elapsed=elapsed,
            )
        )
    if all(step.kind != "event" for step in steps):
        steps.insert(0, Step("event"))
    regs = draw(st.lists(registrations(), min_size=cylinders, max_size=cylinders))
    return History(regs, steps)


@dataclass(frozen=True)
class Ref:
    id: str
    cylinder_id: str
    seq: int


@dataclass
class Ledger:
    """What a history built, as the test expects the database to hold it."""

    events: list[Ref] = field(default_factory=list)  # in commit order = log order
    codes: dict[str, str] = field(default_factory=dict)  # cylinder id -> code
    integrated: int = 0
    checkpoint_sizes: list[int] = field(default_factory=list)

    def chain(self, cylinder_id: str) -> list[Ref]:
        return [r for r in self.events if r.cylinder_id == cylinder_id]

    def order(self, ref: Ref, leaves: int | None = None) -> int:
        """The audit's sort key of a problem with this event: its leaf index, else after all
        ``leaves`` stored leaves (by default the integrated ones)."""
        index = self.events.index(ref)
        late = (self.integrated if leaves is None else leaves) + 1
        return index if index < self.integrated else late

    def label(self, ref: Ref, seq: int | None = None) -> str:
        code = self.codes[ref.cylinder_id]
        return f"event {ref.id} (cylinder {code}, #{ref.seq if seq is None else seq})"


def build(world: World, history: History) -> Ledger:
    reset(world)
    ledger = Ledger()
    codes: dict[int, str] = {}
    clock = NOW
    for step in history.steps:
        clock += step.elapsed
        with transaction(world.engine) as s:
            if step.kind == "integrate":
                log.integrate(s)
                ledger.integrated = len(ledger.events)
            elif step.kind == "checkpoint":
                log.publish_checkpoint(s, AUTHORITY.server, ORIGIN)
                if ledger.checkpoint_sizes[-1:] != [ledger.integrated]:
                    ledger.checkpoint_sizes.append(ledger.integrated)
            else:
                _record(world, s, history, step, clock, ledger, codes)
    return ledger


def _record(
    world: World,
    s: Session,
    history: History,
    step: Step,
    clock: dt.datetime,
    ledger: Ledger,
    codes: dict[int, str],
) -> None:
    if step.cylinder not in codes:
        admin = s.get(Actor, world.actors["admin"])
        spec = history.registrations[step.cylinder]
        cylinder, created = service.register_cylinder(s, AUTHORITY, admin, spec, clock)
        assert created and cylinder.head_seq == 1
        codes[step.cylinder] = ledger.codes[cylinder.id] = cylinder.code
        first = s.execute(select(Event.id).where(Event.cylinder_id == cylinder.id)).scalar_one()
        ledger.events.append(Ref(first, cylinder.id, 1))
    if step.type == "registered":
        return
    payload = dict(step.payload)
    if payload.get("station_id") == STATION:
        payload["station_id"] = world.stations[0]
    actor = s.get(Actor, world.actors[ROLE_OF[step.type]])
    event = append_unruled(s, actor, codes[step.cylinder], step.type, payload, clock,
                           step.occurred_at)  # fmt: skip
    ledger.events.append(Ref(event.id, event.cylinder_id, event.seq))


def append_unruled(
    s: Session,
    actor: Actor,
    code: str,
    event_type: str,
    payload: dict[str, Any],
    clock: dt.datetime,
    occurred_at: dt.datetime | None = None,
) -> Event:
    """Chain an event through the writer alone: these properties are about the chain and
    the log, for any schema-valid history; the business rules have their own tests."""
    clean = validate_payload(event_type, payload)
    head = writer.lock_head(s, code)
    return writer.append(
        s, AUTHORITY, actor, head, event_type, clean, occurred_at or clock, clock, new_id(), None
    )


def finish(world: World, ledger: Ledger) -> None:
    """Integrate everything and publish a checkpoint of it."""
    with transaction(world.engine) as s:
        log.integrate(s)
        log.publish_checkpoint(s, AUTHORITY.server, ORIGIN)
    ledger.integrated = len(ledger.events)
    if ledger.checkpoint_sizes[-1:] != [ledger.integrated]:
        ledger.checkpoint_sizes.append(ledger.integrated)


def run_audit(world: World) -> AuditReport:
    return audit(world.engine, VERIFIER, ORIGIN)


# --- 1. valid histories --------------------------------------------------------------------


def check_clean(world: World, ledger: Ledger) -> None:
    report = run_audit(world)
    assert report.problems == []
    assert report.ok and report.first() is None
    assert report.events == len(ledger.events)
    assert report.leaves == ledger.integrated
    assert report.checkpoints == len(ledger.checkpoint_sizes)


@FAST
@given(history=histories())
def test_any_valid_history_audits_clean_and_proves_every_event_and_checkpoint(world, history):
    ledger = build(world, history)
    check_clean(world, ledger)  # with events still waiting to be integrated
    finish(world, ledger)
    check_clean(world, ledger)

    with Session(world.engine) as s:
        stored = s.execute(select(Checkpoint).order_by(Checkpoint.id)).scalars().all()
        assert [c.size for c in stored] == ledger.checkpoint_sizes
        signed = [open_checkpoint(c.note, VERIFIER, ORIGIN) for c in stored]
        assert [(b.size, b.root) for b in signed] == [(c.size, c.root) for c in stored]
        hashes = {e.id: e.hash for e in s.execute(select(Event)).scalars()}
        leaves = [merkle.leaf_hash(hashes[r.id]) for r in ledger.events]
        # The log is in commit order and every signed root is the RFC 9162 root of its prefix.
        assert [log.leaf_index_of(s, r.id) for r in ledger.events] == list(range(len(leaves)))
        for body in signed:
            assert body.root == merkle.root_from_leaf_hashes(leaves[: body.size])
            assert body.root == log.root_at(s, body.size)
        latest = signed[-1]
        assert latest.size == len(ledger.events)
        for index in range(latest.size):
            leaf, path = log.inclusion_proof(s, index, latest.size)
            assert leaf == leaves[index]
            merkle.verify_inclusion(leaf, index, latest.size, path, latest.root)
        for old, new in combinations_with_replacement(signed, 2):
            proof = log.consistency_proof(s, old.size, new.size)
            merkle.verify_consistency(old.size, new.size, proof, old.root, new.root)


# --- tampering helpers ---------------------------------------------------------------------

RECOMPUTED = re.compile(r"(?<=differs from the recomputed )[0-9a-f]{16}(?=…)")
BROKEN_LINK = (
    "prev_hash does not match the previous event's hash "
    "(an event was removed, reordered or changed)"
)
TILE_0 = "stored tree tile (0, 0) differs from the recomputed tree near leaf 0"


def normal(problems: Sequence[tuple[int, str]]) -> list[tuple[int, str]]:
    """Problems sorted as the audit sorts them, with the recomputed hash blanked out."""
    return sorted((order, RECOMPUTED.sub("<hash>", message)) for order, message in problems)


def stored_hash(stored: bytes) -> str:
    return (
        f"stored hash {stored.hex()[:16]}… differs from the recomputed <hash>… "
        f"(a hashed field was changed)"
    )


def first_about_events(report: AuditReport) -> str:
    """The earliest problem about an event or a chain head, leaving out the tree-level ones.

    Tree problems a changed leaf causes can sort before the event itself (see
    test_the_first_problem_of_a_changed_event_hash_names_the_event).
    """
    return min(p for p in normal(report.problems) if p[1].startswith(("event ", "cylinder ")))[1]


def head_problem(ledger: Ledger, cylinder_id: str) -> str:
    code, length = ledger.codes[cylinder_id], len(ledger.chain(cylinder_id))
    return (
        f"cylinder {code} ({cylinder_id}): its chain head (#{length}) is not its last stored "
        f"event (the last event was removed or its hash changed)"
    )


def row(world: World, event_id: str) -> dict[str, Any]:
    with world.raw.connect() as conn:
        found = conn.execute(select(Event.__table__).where(Event.__table__.c.id == event_id))
        return dict(found.one()._mapping)


def set_event(world: World, event_id: str, **values: Any) -> None:
    table = Event.__table__
    with insider(world) as conn:
        conn.execute(update(table).where(table.c.id == event_id).values(**values))


def checkpoint_ids(world: World) -> list[tuple[int, int]]:
    with world.raw.connect() as conn:
        return [
            tuple(r) for r in conn.execute(text("SELECT id, size FROM checkpoints ORDER BY id"))
        ]


def flip(data: bytes, position: int, mask: int) -> bytes:
    position %= len(data)
    return data[:position] + bytes([data[position] ^ mask]) + data[position + 1 :]


def replace_char(value: str, position: int, char: str) -> str:
    position %= len(value)
    assume(value[position] != char)
    return value[:position] + char + value[position + 1 :]


CHARS = st.characters(exclude_characters="\x00", exclude_categories=("Cs",))  # PostgreSQL text
MASKS = st.integers(1, 255)
POSITIONS = st.integers(0, 10**6)
SHIFTS = st.sampled_from([1, 10**6, 60 * 10**6, 3600 * 10**6, 86400 * 10**6, 365 * 86400 * 10**6])
CONTENT = ("type", "occurred_at", "recorded_at", "actor_id", "station_id", "site_id", "key_id",
           "payload")  # fmt: skip
COLUMNS = (*CONTENT, "signature", "prev_hash", "hash", "seq", "cylinder_id")


# --- 2. a changed byte in a stored event ---------------------------------------------------


def _canonical_object(value: str) -> bool:
    """Whether a stored payload text is a JSON object in its RFC 8785 form (FORMAT.md §1)."""
    try:
        parsed = json.loads(value)
        return isinstance(parsed, dict) and payload_text(parsed) == value
    except (ValueError, TypeError):
        return False


def _changed(data: st.DataObject, column: str, old: Any, chain: list[Ref]) -> Any:
    """A different value for one column, as an insider's one-byte edit would leave it."""
    if column in ("type", "key_id", "payload", "cylinder_id"):
        return replace_char(old, data.draw(POSITIONS, "position"), data.draw(CHARS, "char"))
    if column in ("occurred_at", "recorded_at"):
        sign = data.draw(st.sampled_from([-1, 1]), "sign")
        return old + sign * dt.timedelta(microseconds=data.draw(SHIFTS, "shift"))
    if column in ("actor_id", "station_id", "site_id"):
        new = data.draw(st.integers(1, 2**31 - 1) | st.none(), "new id")
        assume(new != old and not (column == "actor_id" and new is None))
        return new
    if column == "seq":  # before the chain or past its end: (cylinder, seq) stays unique
        return data.draw(st.sampled_from([0, len(chain) + 1, len(chain) + 2]), "new seq")
    return flip(old, data.draw(POSITIONS, "position"), data.draw(MASKS, "mask"))


@FAST
@given(history=histories(max_steps=6), data=st.data())
def test_a_changed_byte_in_any_stored_event_is_caught_and_names_that_event(world, history, data):
    ledger = build(world, history)
    if data.draw(st.booleans(), "integrate and checkpoint first"):
        finish(world, ledger)
    ref = data.draw(st.sampled_from(ledger.events), "event")
    column = data.draw(st.sampled_from(COLUMNS), "column")
    before = row(world, ref.id)
    chain = ledger.chain(ref.cylinder_id)
    new = _changed(data, column, before[column], chain)
    set_event(world, ref.id, **{column: new})

    report = run_audit(world)
    assert not report.ok
    problems = normal(report.problems)
    here, label = ledger.order(ref), ledger.label(ref)
    if column == "payload" and not _canonical_object(new):  # unparsable, or not as stored
        [(order, message)] = problems
        assert order == here
        assert message.startswith(f"{label}: stored fields cannot be canonicalised: ")
    elif column in CONTENT:
        assert problems == [(here, f"{label}: {stored_hash(before['hash'])}")]
    elif column == "signature":
        assert problems == [(here, f"{label}: signature by key {before['key_id']} does not verify")]
    elif column == "prev_hash":
        assert problems == [
            (here, f"{label}: {BROKEN_LINK}"),
            (here, f"{label}: {stored_hash(before['hash'])}"),
        ]
    elif column == "hash":
        assert problems == sorted(_changed_hash_problems(world, ledger, ref, new))
        successor = chain[chain.index(ref) + 1 :][:1]
        assert first_about_events(report) in (
            f"{label}: {stored_hash(new)}",
            head_problem(ledger, ref.cylinder_id),  # the changed event is its chain's head
            # both unintegrated: same sort key, and the successor's id may sort first
            *(f"{ledger.label(r)}: {BROKEN_LINK}" for r in successor),
        )
    elif column == "seq":
        assert (here, _moved_seq_problem(ledger, ref, new)) in problems
        # Every problem is about this chain: its events' labels and its head name its code.
        assert all(f"cylinder {ledger.codes[ref.cylinder_id]}" in m for _, m in problems)
    else:  # cylinder_id: the event now claims a cylinder that does not exist
        phantom = f"event {ref.id} (cylinder {new}, #{ref.seq})"
        own = (
            f"{phantom}: {stored_hash(before['hash'])}"  # the cylinder id is hashed
            if ref.seq == 1
            else f"{phantom}: sequence number {ref.seq}, expected 1 (an event is missing)"
        )
        left = _left_behind(ledger, ref)
        assert (here, own) in problems and left in problems
        assert report.first().startswith(f"event {ref.id} ") or report.first() == left[1]


def _moved_seq_problem(ledger: Ledger, ref: Ref, new: int) -> str:
    """What the audit says about an event whose seq moved before or past its chain."""
    length = len(ledger.chain(ref.cylinder_id))
    moved = ledger.label(ref, new)
    if new == 0:
        return f"{moved}: sequence number 0, expected 1 (an event is missing)"
    if ref.seq < length and new == length + 1:  # right seq after the old head, wrong link
        return f"{moved}: {BROKEN_LINK}"
    expected = length + 1 if ref.seq < length else length
    return f"{moved}: sequence number {new}, expected {expected} (an event is missing)"


def _left_behind(ledger: Ledger, ref: Ref, leaves: int | None = None) -> tuple[int, str]:
    """What the audit says about the chain that lost event ``ref``."""
    chain = ledger.chain(ref.cylinder_id)
    k = chain.index(ref)
    if k + 1 < len(chain):
        successor = chain[k + 1]
        return (
            ledger.order(successor, leaves),
            f"{ledger.label(successor)}: sequence number {successor.seq}, expected {ref.seq} "
            f"(an event is missing)",
        )
    late = (ledger.integrated if leaves is None else leaves) + 1
    where = ledger.order(chain[k - 1], leaves) if k else late
    return where, head_problem(ledger, ref.cylinder_id)


def _root_problem(cp_id: int, size: int) -> str:
    return (
        f"checkpoint #{cp_id} (size {size}) signed a root that differs from the root "
        f"recomputed from the events: the log was altered"
    )


def _changed_hash_problems(
    world: World, ledger: Ledger, ref: Ref, stored: bytes
) -> list[tuple[int, str]]:
    """Everything a changed (now ``stored``) hash breaks: the event, its link or its chain's
    head, and, once it is a leaf, every signed root above it, the log state and the tile."""
    chain = ledger.chain(ref.cylinder_id)
    k = chain.index(ref)
    here = ledger.order(ref)
    expected = [(here, f"{ledger.label(ref)}: {stored_hash(stored)}")]
    if k + 1 < len(chain):
        successor = chain[k + 1]
        expected.append((ledger.order(successor), f"{ledger.label(successor)}: {BROKEN_LINK}"))
    else:
        expected.append((here, head_problem(ledger, ref.cylinder_id)))
    index = ledger.events.index(ref)
    if index < ledger.integrated:
        for cp_id, size in checkpoint_ids(world):
            if size > index:
                expected.append((size - 1, _root_problem(cp_id, size)))
        n = ledger.integrated
        expected.append((n, f"the stored log state (size {n}) differs from the recomputed tree"))
        expected.append((0, TILE_0))
    return expected


# --- 3. deleted and reordered events -------------------------------------------------------


@FAST
@given(history=histories(max_steps=6), data=st.data())
def test_a_deleted_event_is_caught_wherever_it_was_in_its_chain(world, history, data):
    ledger = build(world, history)
    if data.draw(st.booleans(), "integrate and checkpoint first"):
        finish(world, ledger)
    ref = data.draw(st.sampled_from(ledger.events), "event")
    with_log_rows = data.draw(st.booleans(), "also delete its log_leaves/log_pending rows")
    checkpoints = checkpoint_ids(world)
    with insider(world) as conn:
        if with_log_rows:
            conn.execute(text("DELETE FROM log_leaves WHERE event_id = :e"), {"e": ref.id})
            conn.execute(text("DELETE FROM log_pending WHERE event_id = :e"), {"e": ref.id})
        conn.execute(text("DELETE FROM events WHERE id = :e"), {"e": ref.id})

    report = run_audit(world)
    n, index = ledger.integrated, ledger.events.index(ref)
    integrated = index < n
    leaves = n - 1 if with_log_rows and integrated else n
    expected = [_left_behind(ledger, ref, leaves)]
    if integrated and not with_log_rows:
        expected.append((index, f"leaf {index} names a missing event {ref.id}"))
    elif integrated and index < n - 1:
        expected.append((index, f"leaf {index} is missing from the global log"))
    elif integrated:  # the last leaf went with it: the log is one leaf short
        expected += [
            (n, f"checkpoint #{cp_id} claims size {n}, but the log has only {n - 1} leaves")
            for cp_id, size in checkpoints
            if size == n
        ]
        expected.append(
            (n - 1, f"the stored log state (size {n}) differs from the recomputed tree")
        )
        expected.append((0, TILE_0))
    assert not report.ok
    assert normal(report.problems) == sorted(expected)


def _link_problems(ledger: Ledger, rows: list[dict[str, Any]]) -> list[tuple[int, str]]:
    """FORMAT §2 over one chain's stored rows: event p has seq p and the hash of p−1 as prev."""
    problems = []
    prev_seq, prev_hash = 0, bytes(32)
    for r in sorted(rows, key=lambda r: r["seq"]):
        ref = next(e for e in ledger.events if e.id == r["id"])
        where, label = ledger.order(ref), ledger.label(ref, r["seq"])
        if r["seq"] != prev_seq + 1:
            expected = f"sequence number {r['seq']}, expected {prev_seq + 1} (an event is missing)"
            problems.append((where, f"{label}: {expected}"))
        elif r["prev_hash"] != prev_hash:
            problems.append((where, f"{label}: {BROKEN_LINK}"))
        prev_seq, prev_hash = r["seq"], r["hash"]
    return problems


def _append_release(world: World, ledger: Ledger, cylinder_id: str) -> None:
    with transaction(world.engine) as s:
        regulator = s.get(Actor, world.actors["regulator"])
        event = append_unruled(s, regulator, ledger.codes[cylinder_id], "released", {}, NOW)
        ledger.events.append(Ref(event.id, cylinder_id, event.seq))


@FAST
@given(history=histories(max_steps=6), data=st.data())
def test_two_events_of_a_chain_that_swap_places_are_caught(world, history, data):
    ledger = build(world, history)
    cylinder_id = data.draw(st.sampled_from(sorted(ledger.codes)), "cylinder")
    while len(ledger.chain(cylinder_id)) < 2:
        _append_release(world, ledger, cylinder_id)
    if data.draw(st.booleans(), "integrate and checkpoint first"):
        finish(world, ledger)
    chain = ledger.chain(cylinder_id)
    a = data.draw(st.integers(0, len(chain) - 2), "first")
    b = data.draw(st.integers(a + 1, len(chain) - 1), "second")
    first, second = chain[a], chain[b]
    with insider(world) as conn:  # through a free seq: (cylinder_id, seq) is unique
        swap = "UPDATE events SET seq = :seq WHERE id = :e"
        conn.execute(text(swap), {"seq": -1, "e": first.id})
        conn.execute(text(swap), {"seq": first.seq, "e": second.id})
        conn.execute(text(swap), {"seq": second.seq, "e": first.id})

    report = run_audit(world)
    expected = _link_problems(ledger, [row(world, r.id) for r in chain])
    if b == len(chain) - 1:  # the old head now sits in the middle
        expected.append((ledger.order(first), head_problem(ledger, cylinder_id)))
    assert not report.ok
    assert normal(report.problems) == sorted(expected)
    named = {first.id, second.id} | {r.id for r in chain[a + 1 : a + 2] + chain[b + 1 : b + 2]}
    assert {p[1].split(" ")[1] for p in report.problems if p[1].startswith("event ")} == named
    assert report.first() in (m for _, m in expected)


# --- 4. altered checkpoints and a deleted log leaf -----------------------------------------

CHECKPOINT_EDITS = ("note", "signature", "root", "size", "leaf")


@FAST
@given(history=histories(max_steps=6), data=st.data())
def test_an_altered_checkpoint_or_a_deleted_log_leaf_is_caught(world, history, data):
    ledger = build(world, history)
    finish(world, ledger)
    n = ledger.integrated
    checkpoints = checkpoint_ids(world)
    edit = data.draw(st.sampled_from(CHECKPOINT_EDITS), "edit")
    cp_id, size = data.draw(st.sampled_from(checkpoints), "checkpoint")
    with world.raw.connect() as conn:
        note, root = conn.execute(
            text("SELECT note, root FROM checkpoints WHERE id = :i"), {"i": cp_id}
        ).one()
    where = {"i": cp_id}
    if edit == "note":
        sql, where["v"] = "note", replace_char(note, data.draw(POSITIONS), data.draw(CHARS))
        expected_prefix = f"checkpoint #{cp_id} (size {size}) does not verify: "
    elif edit == "signature":
        body, _, line = note[:-1].rpartition("\n")
        name, raw = line.removeprefix("— ").split(" ")
        signed = base64.b64decode(raw)
        forged = signed[:4] + flip(signed[4:], data.draw(POSITIONS), data.draw(MASKS))
        sql = "note"
        where["v"] = f"{body}\n— {name} {base64.b64encode(forged).decode()}\n"
        expected = [
            (
                size,
                f"checkpoint #{cp_id} (size {size}) does not verify: checkpoint signature: "
                f"invalid signature from {ORIGIN!r}+{signed[:4].hex()}",
            )
        ]
    elif edit == "root":
        sql, where["v"] = "root", flip(root, data.draw(POSITIONS), data.draw(MASKS))
        expected = [(size, f"checkpoint #{cp_id}: stored size/root differ from its signed note")]
    elif edit == "size":
        new = data.draw(st.integers(-1, n + 2).filter(lambda v: v != size), "new size")
        sql, where["v"] = "size", new
        if 0 <= new <= n:
            expected = [
                (new, f"checkpoint #{cp_id}: stored size/root differ from its signed note"),
                (max(new - 1, 0), _root_problem(cp_id, new)),
            ]
        else:
            expected = [
                (new, f"checkpoint #{cp_id} claims size {new}, but the log has only {n} leaves")
            ]
    if edit != "leaf":
        with insider(world) as conn:
            conn.execute(text(f"UPDATE checkpoints SET {sql} = :v WHERE id = :i"), where)
    else:
        index = data.draw(st.integers(0, n - 1), "leaf")
        lost = ledger.events[index]
        with insider(world) as conn:
            conn.execute(text("DELETE FROM log_leaves WHERE leaf_index = :i"), {"i": index})
        orphan = f"{ledger.label(lost)}: neither in the global log nor waiting to be integrated"
        expected = [(n, orphan)]
        if index < n - 1:
            expected.append((index, f"leaf {index} is missing from the global log"))
        else:
            expected += [
                (n, f"checkpoint #{c} claims size {n}, but the log has only {n - 1} leaves")
                for c, c_size in checkpoints
                if c_size == n
            ]
            expected.append(
                (n - 1, f"the stored log state (size {n}) differs from the recomputed tree")
            )
            expected.append((0, TILE_0))

    report = run_audit(world)
    assert not report.ok
    if edit == "note":
        [(order, message)] = report.problems
        assert order == size and message.startswith(expected_prefix)
    else:
        assert normal(report.problems) == sorted(expected)
    if edit in ("note", "signature", "root", "size"):
        assert re.match(rf"checkpoint #{cp_id}[ :]", report.first())


# --- pinned behaviour and known bugs -------------------------------------------------------

REGISTRATION = {
    "serial": "CQ202200001", "manufacturer": "浙江金盾压力容器有限公司",
    "manufactured_on": "2022-03-01", "model": "YSP35.5", "capacity_kg": 15.0, "tare_kg": 16.8,
    "dual_phase": False, "last_inspected_on": None, "service_life_years": None,
}  # fmt: skip


def small_ledger(world: World, *steps: Step) -> Ledger:
    ledger = build(world, History([REGISTRATION, REGISTRATION | {"serial": "CQ2"}], list(steps)))
    finish(world, ledger)
    return ledger


def test_the_first_problem_of_a_changed_event_hash_names_the_event(world):
    ledger = small_ledger(world, Step("event", 0), Step("event", 1), Step("event", 1, "held",
                          {"reason": "泄漏"}))  # fmt: skip
    ref = ledger.events[1]  # leaf 1, the middle of its chain
    set_event(world, ref.id, hash=flip(row(world, ref.id)["hash"], 0, 1))
    report = run_audit(world)
    assert (0, TILE_0) in report.problems  # the tree is checked too
    assert report.first().startswith(f"{ledger.label(ref)}: stored hash ")


@pytest.mark.parametrize(
    ("step", "canonical", "respelled"),
    [
        (Step("event", 0, "held", {"reason": "漏气\x1f"}), "\\u001f", "\\u001F"),
        (Step("event", 0, "filled", {"station_id": STATION, "gross_kg": 31.8, "net_kg": 1e-7}),
         "1e-7", "1E-7"),
        (Step("event", 0, "released", {}), "{}", "{ }"),
    ],
)  # fmt: skip
def test_a_payload_respelled_with_the_same_json_value_is_caught(world, step, canonical, respelled):
    ledger = small_ledger(world, step)
    ref = ledger.events[-1]
    stored = row(world, ref.id)["payload"]
    assert stored.count(canonical) == 1
    set_event(world, ref.id, payload=stored.replace(canonical, respelled))
    [(order, message)] = run_audit(world).problems
    assert order == ledger.order(ref)
    assert message.startswith(f"{ledger.label(ref)}: stored fields cannot be canonicalised: ")


@pytest.mark.parametrize("payload", ["[]", "null", '"{}"', "{"])
def test_a_payload_replaced_by_something_else_than_a_json_object_is_reported(world, payload):
    ledger = small_ledger(world, Step("event", 0, "released", {}))
    ref = ledger.events[-1]
    set_event(world, ref.id, payload=payload)
    [(order, message)] = run_audit(world).problems
    assert order == ledger.order(ref)
    assert message.startswith(f"{ledger.label(ref)}: stored fields cannot be canonicalised: ")


def test_a_customer_id_beyond_the_databases_range_is_refused_and_nothing_recorded(world):
    ledger = small_ledger(world, Step("event", 0))
    with pytest.raises(Invalid, match="customer_id"), transaction(world.engine) as s:
        actor = s.get(Actor, world.actors["driver"])
        code = next(iter(ledger.codes.values()))
        service.append_event(s, AUTHORITY, actor, code, "returned", {"customer_id": 2**31}, NOW)
    check_clean(world, ledger)


def test_registration_text_with_control_characters_is_refused(world):
    with transaction(world.engine) as s:
        admin = s.get(Actor, world.actors["admin"])
        for field in ("serial", "manufacturer", "model"):
            spec = REGISTRATION | {field: "CQ\x002022"}
            with pytest.raises(Invalid, match=field):
                service.register_cylinder(s, AUTHORITY, admin, spec, NOW)


def test_an_audit_that_stops_at_a_missing_leaf_closes_its_cursor(world):
    ledger = small_ledger(world, Step("event", 0), Step("event", 1), Step("event", 0, "held",
                          {"reason": "泄漏"}))  # fmt: skip
    with insider(world) as conn:
        conn.execute(text("DELETE FROM log_leaves WHERE leaf_index = 1"))
    report = run_audit(world)
    orphan = (
        f"{ledger.label(ledger.events[1])}: neither in the global log nor waiting to be integrated"
    )
    assert sorted(report.problems) == [(1, "leaf 1 is missing from the global log"), (3, orphan)]
    gc.collect()
