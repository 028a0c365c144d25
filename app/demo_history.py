"""A year in the demo district, played through the real use cases in time order.

Every cylinder has a script (a generator yielding the time of its next step); the
scripts are merged by time, so the log's leaves and the events' server times advance
together as they would in a real year. The rules decide everything: a script that tries
something illegal gets it refused and, where the rules say so, recorded.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import heapq
import random
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from app.demo import District, cylinder_spec
from ledger import checks, service
from ledger.authority import Authority
from ledger.errors import LedgerError
from ledger.params import Jurisdiction
from ledger.rules import Decision

Script = Generator[dt.datetime, None, None]
H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)
CHECKLIST = dict.fromkeys(
    ("valve", "hose", "regulator", "leak_test", "ventilation", "single_gas_source",
     "storage_room", "not_basement"),
    True,
)  # fmt: skip
USE_DAYS = {"restaurant": (5, 12), "canteen": (4, 9), "household": (25, 50), "other": (12, 25)}
LEGAL = {
    "a": 160,
    "b": 95,
}  # with the 45 special ones: 300  # cylinders that just live their lives, by enterprise


@dataclass
class Cyl:
    """A cylinder in the simulation: its current code and its enterprise's key."""

    code: str
    owner: str
    capacity: float
    id: str  # the cylinder's UUID: its code changes when it is relabelled


class Sim:
    """The district's actors acting through the use cases."""

    def __init__(
        self, session: Session, authority: Authority, d: District, now: dt.datetime,
        params: Jurisdiction,
    ) -> None:  # fmt: skip
        self.s, self.authority, self.d, self.now, self.params = session, authority, d, now, params
        self.rng = random.Random(20261123)
        self.serial = 0

    def register(self, owner: str, made: dt.date, t: dt.datetime, **extra: Any) -> Cyl:
        """Register a cylinder for an enterprise at time t."""
        self.serial += 1
        serial = extra.pop("serial", f"{made.year}{owner.upper()}{self.serial:06d}")
        spec = cylinder_spec(serial, made, **extra)
        admin = self.d.actors[f"enterprise_{owner}"]
        cylinder, _ = service.register_cylinder(
            self.s, self.authority, admin, spec, t, params=self.params
        )
        return Cyl(cylinder.code, owner, spec["capacity_kg"], cylinder.id)

    def check(self, station: str, c: Cyl, t: dt.datetime) -> Decision:
        """A fill check at a station."""
        actor = self.d.actors[f"station_{station}"]
        st = self.d.stations[station]
        assert st.id is not None
        return checks.fill_check(
            self.s, self.authority, actor, st.id, c.code, t, self.params
        ).decision

    def fill(self, station: str, c: Cyl, t: dt.datetime, net: float | None = None) -> bool:
        """Check and, when allowed, fill with a realistic scale reading."""
        if not self.check(station, c, t).allowed:
            return False
        if net is None:
            roll = self.rng.random()
            net = (
                c.capacity - self.rng.uniform(0.6, 1.0)
                if roll < 0.03
                else self.rng.gauss(c.capacity, 0.12)
            )
        tare = 47.5 if c.capacity > 20 else 16.8
        payload = {"station_id": self.d.stations[station].id, "gross_kg": round(tare + net, 2),
                   "tare_kg": tare, "net_kg": round(net, 2)}  # fmt: skip
        return self.event(f"station_{station}", c, "filled", payload, t + dt.timedelta(minutes=5))

    def event(self, who: str, c: Cyl, kind: str, payload: dict[str, Any], t: dt.datetime) -> bool:
        """Record an event; False when the rules refused it (a refusal may be recorded)."""
        try:
            result = service.append_event(
                self.s, self.authority, self.d.actors[who], c.code, kind, payload, t,
                params=self.params,
            )  # fmt: skip
        except LedgerError:
            return False
        if kind == "relabelled" and result.refusal is None:
            c.code = payload["new_code"]
        return result.refusal is None

    def customer_id(self, owner: str, kinds: tuple[str, ...] | None = None) -> tuple[int, str]:
        """A customer of the enterprise (restaurants most often); (id, kind)."""
        pool = [
            c
            for c in self.d.customers[owner]
            if (kinds is None or c.kind in kinds) and not c.basement  # drivers know that one
        ]
        weights = [3 if c.kind in ("restaurant", "canteen") else 1 for c in pool]
        chosen = self.rng.choices(pool, weights)[0]
        assert chosen.id is not None
        return chosen.id, chosen.kind


def stations_of(owner: str) -> list[str]:
    return {"a": ["a", "a2"], "b": ["b"], "c": ["c"]}[owner]


def trucks_of(owner: str) -> list[str]:
    return {"a": ["a", "a2"], "b": ["b"], "c": ["c"]}[owner]


def cycle(
    sim: Sim, c: Cyl, t: dt.datetime, end: dt.datetime, kinds: tuple[str, ...] | None = None
) -> Script:
    """Fill → dispatch → deliver (with the safety check) → return, until the end of the year."""
    rng = sim.rng
    while t < end:
        station = rng.choice(stations_of(c.owner))
        yield t
        if not sim.fill(station, c, t):
            return  # blocked at the nozzle: the cylinder leaves the cycle
        t += rng.uniform(1, 6) * H
        yield t
        truck = rng.choice(trucks_of(c.owner))
        if not sim.event(f"driver_{truck}", c, "dispatched",
                         {"vehicle": sim.d.vehicles[truck].plate}, t):  # fmt: skip
            sim.event(f"station_{station}", c, "returned", {}, t + H)  # back for residual gas
            t += rng.uniform(1, 3) * D
            continue
        t += rng.uniform(0.5, 4) * H
        yield t
        customer, kind = sim.customer_id(c.owner, kinds)
        checklist = dict(CHECKLIST)
        if rng.random() < 0.01:
            checklist[rng.choice(sorted(CHECKLIST))] = False  # a hazard found at the door
        if not sim.event(f"driver_{truck}", c, "delivered",
                         {"customer_id": customer, "checklist": checklist}, t):  # fmt: skip
            sim.event(f"driver_{truck}", c, "returned", {}, t + 2 * H)
            t += rng.uniform(1, 3) * D
            continue
        low, high = USE_DAYS[kind]
        t += rng.uniform(low, high) * D
        if t >= end:
            return
        yield t
        sim.event(f"driver_{truck}", c, "returned", {"customer_id": customer}, t)
        t += rng.uniform(0.3, 2.5) * D
        if inspection_due(sim, c, t):
            yield t
            passed = rng.random() > 0.03
            result = {"result": "pass" if passed else "fail", "agency": "重庆市特种设备检测研究院"}
            sim.event("inspector", c, "inspected", result, t)
            if not passed:
                t += 3 * D
                yield t
                sim.event("inspector", c, "scrapped", {"reason": "定期检验判废"}, t)
                return
            t += D


def inspection_due(sim: Sim, c: Cyl, t: dt.datetime) -> bool:
    """Due within 40 days: the station sends it to the inspection agency now."""
    from ledger import projection

    state = projection.load(sim.s, c.id)
    assert state is not None
    return state.next_inspection_due(sim.params) <= (t + 40 * D).date()


def simulate_year(
    session: Session,
    authority: Authority,
    d: District,
    now: dt.datetime,
    params: Jurisdiction,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, str]:
    """Play the year; the codes of example cylinders, one of each kind, by name."""
    sim = Sim(session, authority, d, now, params)
    start = now - 365 * D
    examples: dict[str, str] = {}
    scripts = list(_cast(sim, start, now, examples))
    heap = [(next(g), i, g) for i, g in enumerate(scripts)]
    heapq.heapify(heap)
    steps = 0
    while heap:
        _, i, script = heapq.heappop(heap)
        steps += 1
        if progress and steps % 500 == 0:
            progress(steps, len(heap))
        with contextlib.suppress(StopIteration):  # a finished script leaves the heap
            heapq.heappush(heap, (next(script), i, script))
    return examples


def _made(rng: random.Random, now: dt.datetime) -> dt.date:
    """A manufacture date 1–6 years ago, inspected when older than four years."""
    return (now - rng.uniform(1.0, 6.0) * 365 * D).date()


def _cast(sim: Sim, start: dt.datetime, now: dt.datetime, ex: dict[str, str]) -> Iterator[Script]:
    """Every cylinder's script: the legal majority, then one of each illegal kind."""
    rng = sim.rng
    for owner, count in LEGAL.items():
        for _ in range(count):
            yield _legal(sim, owner, start + rng.uniform(0, 20) * D, now, ex)
    from app.demo_cases import cases

    yield from cases(sim, start, now, ex)


def _legal(sim: Sim, owner: str, t: dt.datetime, now: dt.datetime, ex: dict[str, str]) -> Script:
    made = _made(sim.rng, t)
    inspected = None
    if (t.date() - made).days > 4 * 365:
        inspected = (made + dt.timedelta(days=4 * 365 - sim.rng.randint(0, 200))).isoformat()
    yield t
    c = sim.register(owner, made, t, last_inspected_on=inspected)
    ex.setdefault(f"legal_{owner}", c.code)
    yield from cycle(sim, c, t + sim.rng.uniform(0.1, 3) * D, now - 0.5 * D)
