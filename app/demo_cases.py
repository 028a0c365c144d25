"""The demo's illegal cylinders: at least one of every kind the rules refuse, each with the
history that made it so (and the refused attempts that history recorded)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from app.demo_history import CHECKLIST, D, H, Script, Sim, cycle

Examples = dict[str, str]


def cases(sim: Sim, start: dt.datetime, now: dt.datetime, ex: Examples) -> Iterator[Script]:
    """One script per illegal kind (and a few more of the bad actor's)."""
    yield _legal(sim, start, now, ex)
    yield _scrapped_then_refurbished(sim, start, now, ex)
    yield _past_service_life(sim, start, now, ex)
    yield _inspection_overdue(sim, start, now, ex)
    yield _inspection_due_soon(sim, start, now, ex)
    yield _not_owned(sim, start, now, ex)
    yield _stolen_and_held(sim, start, now, ex)
    yield _clone(sim, start, now, ex)
    yield _label_damaged_then_relabelled(sim, start, now, ex)
    yield _label_damaged(sim, start, now, ex)
    yield _overfilled(sim, start, now, ex)
    yield _dual_phase(sim, start, now, ex)
    yield _basement(sim, start, now, ex)
    yield _wrong_vehicle_and_driver(sim, start, now, ex)
    for i in range(30):
        yield _bad_actor(sim, start + i * 3 * D, now, ex)


def _legal(sim: Sim, t: dt.datetime, now: dt.datetime, ex: Examples) -> Script:
    """A cylinder that is legal to fill at station A right now: back, empty, three days ago."""
    yield t
    c = sim.register("a", (now - 500 * D).date(), t)
    ex["legal"] = c.code
    yield from cycle(sim, c, t + D, now - 40 * D, kinds=("restaurant",))


def _scrapped_then_refurbished(sim: Sim, t: dt.datetime, now: dt.datetime, ex: Examples) -> Script:
    yield t
    old = sim.register("a", dt.date(2017, 8, 1), t, last_inspected_on="2023-07-20",
                       serial="JD2017080123", service_life_years=12)  # fmt: skip
    ex["SCRAPPED"] = old.code
    t += 40 * D
    yield t
    sim.event("inspector", old, "inspected", {"result": "fail", "agency": "重庆特检院"}, t)
    t += 5 * D
    yield t
    sim.event("inspector", old, "scrapped", {"reason": "腐蚀超标，判废"}, t)
    t += 60 * D
    yield t
    sim.fill("a", old, t)  # somebody tries: fill_blocked SCRAPPED
    t += 120 * D
    yield t  # the same steel, repainted, registered as new: its serial gives it away
    fake = sim.register("a", dt.date(2025, 3, 1), t, serial="JD2017080123")
    ex["REFURBISHED"] = fake.code
    yield t + 2 * H
    sim.fill("a", fake, t + 2 * H)


def _past_service_life(sim: Sim, t: dt.datetime, now: dt.datetime, ex: Examples) -> Script:
    yield t
    c = sim.register("a", dt.date(2017, 6, 1), t, last_inspected_on="2024-05-10")
    ex["PAST_SERVICE_LIFE"] = c.code  # 8 years (GB 5842-2006): ended 2025-06-01
    yield t + 3 * D
    sim.fill("a2", c, t + 3 * D)


def _inspection_overdue(sim: Sim, t: dt.datetime, now: dt.datetime, ex: Examples) -> Script:
    yield t
    c = sim.register("b", dt.date(2022, 3, 10), t)
    ex["INSPECTION_OVERDUE"] = c.code  # due 2026-03-10, never sent for inspection
    due = dt.datetime(2026, 3, 10, tzinfo=dt.UTC)
    t += D
    while t < now - 2 * D:
        yield t
        if not sim.fill("b", c, t):  # refused from the due date on
            t += 20 * D
            continue
        t += 3 * H
        yield t
        sim.event("driver_b", c, "dispatched", {"vehicle": sim.d.vehicles["b"].plate}, t)
        customer, _ = sim.customer_id("b", ("household",))
        yield t + H
        sim.event(
            "driver_b", c, "delivered", {"customer_id": customer, "checklist": CHECKLIST}, t + H
        )
        t += 30 * D
        yield t
        sim.event("driver_b", c, "returned", {"customer_id": customer}, t)
        t += D
        if t > due + 60 * D:
            return


def _inspection_due_soon(sim: Sim, t: dt.datetime, now: dt.datetime, ex: Examples) -> Script:
    yield t
    made = (now - (4 * 365 - 15) * D).date()  # due in about two weeks
    c = sim.register("a", made, t)
    ex["INSPECTION_DUE_SOON"] = c.code
    yield t + D
    sim.fill("a", c, t + D)


def _not_owned(sim: Sim, t: dt.datetime, now: dt.datetime, ex: Examples) -> Script:
    yield t
    c = sim.register("b", (now - 700 * D).date(), t)
    ex["NOT_OWNED"] = c.code  # B's cylinder brought to A's station
    t = now - 20 * D
    yield t
    sim.fill("a", c, t)


def _stolen_and_held(sim: Sim, t: dt.datetime, now: dt.datetime, ex: Examples) -> Script:
    yield t
    c = sim.register("a", (now - 500 * D).date(), t)
    ex["HELD"] = c.code
    t = now - 90 * D
    yield t
    sim.event("driver_a", c, "reported", {"kind": "stolen", "note": "配送途中于龙溪街道被盗"}, t)
    t += 2 * D
    yield t
    sim.event("regulator", c, "held", {"reason": "被盗气瓶，待公安核查"}, t)
    t += 30 * D
    yield t
    sim.fill("a", c, t)


def _clone(sim: Sim, t: dt.datetime, now: dt.datetime, ex: Examples) -> Script:
    yield t
    c = sim.register("a", (now - 400 * D).date(), t)
    ex["SUSPECTED_CLONE"] = c.code
    t = now - 5 * H
    yield t
    sim.fill("a2", c, t)  # filled this morning at the enterprise's other station …
    t += 2 * H
    yield t
    sim.fill("a", c, t)  # … and the same code at station a: refused, recorded


def _label_damaged_then_relabelled(
    sim: Sim, t: dt.datetime, now: dt.datetime, ex: Examples
) -> Script:
    yield t
    c = sim.register("a", (now - 800 * D).date(), t)
    old = c.code
    t = now - 100 * D
    yield t
    sim.event("station_a", c, "reported", {"kind": "label_damaged", "note": "二维码被油污覆盖"}, t)
    t += D
    yield t
    sim.event("enterprise_a", c, "relabelled", {"new_code": "RL" + old[:10]}, t)
    ex["CODE_RETIRED"], ex["relabelled"] = old, c.code
    yield from cycle(sim, c, t + D, now - 3 * D)


def _label_damaged(sim: Sim, t: dt.datetime, now: dt.datetime, ex: Examples) -> Script:
    yield t
    c = sim.register("b", (now - 900 * D).date(), t)
    ex["LABEL_DAMAGED"] = c.code
    t = now - 10 * D
    yield t
    sim.event("driver_b", c, "reported", {"kind": "label_damaged", "note": "标签磨损"}, t)


def _overfilled(sim: Sim, t: dt.datetime, now: dt.datetime, ex: Examples) -> Script:
    yield t
    c = sim.register("a", (now - 420 * D).date(), t)
    ex["OVERFILLED"] = c.code
    t = now - 6 * H
    yield t
    sim.fill("a", c, t, net=15.4)  # 14.5 kg rated: 0.9 kg too much
    t += H
    yield t
    sim.event("driver_a", c, "dispatched", {"vehicle": sim.d.vehicles["a"].plate}, t)


def _dual_phase(sim: Sim, t: dt.datetime, now: dt.datetime, ex: Examples) -> Script:
    yield t
    c = sim.register("a", (now - 600 * D).date(), t, large=True)
    ex["DUAL_PHASE"] = c.code
    t = now - 30 * D
    yield t
    sim.fill("a", c, t)
    t += 2 * H
    yield t
    sim.event("driver_a", c, "dispatched", {"vehicle": sim.d.vehicles["a"].plate}, t)
    restaurant = next(x.id for x in sim.d.customers["a"] if x.kind == "restaurant")
    t += H
    yield t  # refused: DUAL_PHASE_TO_RESTAURANT, recorded
    sim.event("driver_a", c, "delivered", {"customer_id": restaurant, "checklist": CHECKLIST}, t)
    market = next(x.id for x in sim.d.customers["a"] if x.kind == "other")
    yield t + H
    sim.event("driver_a", c, "delivered", {"customer_id": market, "checklist": CHECKLIST}, t + H)


def _basement(sim: Sim, t: dt.datetime, now: dt.datetime, ex: Examples) -> Script:
    yield t
    c = sim.register("a", (now - 380 * D).date(), t)
    ex["BASEMENT_SITE"] = c.code
    t = now - 12 * D
    yield t
    sim.fill("a", c, t)
    t += H
    yield t
    sim.event("driver_a", c, "dispatched", {"vehicle": sim.d.vehicles["a"].plate}, t)
    basement = next(x.id for x in sim.d.customers["a"] if x.basement)
    t += H
    yield t
    sim.event("driver_a", c, "delivered", {"customer_id": basement, "checklist": CHECKLIST}, t)


def _wrong_vehicle_and_driver(sim: Sim, t: dt.datetime, now: dt.datetime, ex: Examples) -> Script:
    yield t
    c = sim.register("a", (now - 450 * D).date(), t)
    ex["VEHICLE_NOT_PERMITTED"] = ex["DRIVER_NOT_BOUND"] = c.code
    t = now - 8 * D
    yield t
    sim.fill("a", c, t)
    t += H
    yield t
    sim.event("driver_a2", c, "dispatched", {"vehicle": "渝A·X99999"}, t)  # unregistered
    t += H
    yield t
    driver_a2 = sim.d.actors["driver_a2"].id
    sim.event("enterprise_a", c, "dispatched",
              {"vehicle": sim.d.vehicles["a"].plate, "driver": driver_a2}, t)  # fmt: skip


def _bad_actor(sim: Sim, t: dt.datetime, now: dt.datetime, ex: Examples) -> Script:
    """Enterprise C: blacklisted, licences lapsed; its station keeps trying."""
    yield t
    c = sim.register("c", (now - sim.rng.uniform(1, 9) * 365 * D).date(), t)
    ex.setdefault("OWNER_NOT_LICENSED", c.code)
    for _ in range(3):
        t += sim.rng.uniform(20, 90) * D
        if t >= now:
            return
        yield t
        sim.fill("c", c, t)
