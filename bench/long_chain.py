#!/usr/bin/env python
"""What one cylinder's long life costs the pages and the API that show it whole.

    .venv/bin/python bench/long_chain.py [--backend sqlite|postgresql] [--sizes 100,1000,4000]

A cylinder delivered to a restaurant every week for 20 years has ~4,000 events (check and
fill, dispatch, delivery, return). The small demo (bench/load.py's ledger, a temp SQLite
file or a PostgreSQL schema of its own, dropped at the end) gets one cylinder whose chain
grows through the service's own path (a fill check, then ``filled``, ``dispatched``,
``delivered``, ``returned``: signed, chained and projected as in production), in rounds of
four events, to the last whole round within each of ``--sizes`` (997 for 1,000), then is
integrated into the Merkle log under a signed checkpoint (as the scheduler does: every
event has its leaf, the trace proves the last); at each size, through Flask's test client
(median of 5):

- ``GET /api/v1/cylinders/{code}/events`` (the owner's and regulator's API: every event,
  the chain verified), its size in bytes;
- ``GET /regulator/trace?code=`` (the regulator's trace page: the whole chain verified, the
  latest 200 events shown), its size, and with ``&all=1`` (every event shown);
- ``GET /regulator/trace/{code}/epcis.jsonld`` (the regulator's EPCIS 2.0 export, whole);
- ``GET /c/{code}`` (the public page a restaurant opens by scanning);
- ``POST /api/v1/fill-checks`` on that cylinder (the nozzle).

Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "bench"))  # after the repository: bench/ledger.py is a script

RUNS = 5
STEP = dt.timedelta(minutes=5)  # between a round's steps (the demo's licences began in 2025)
# What a driver confirms at a restaurant's door (the demo's own list).
CHECKLIST = dict.fromkeys(
    (
        "valve",
        "hose",
        "regulator",
        "leak_test",
        "ventilation",
        "single_gas_source",
        "storage_room",
        "not_basement",
    ),
    True,
)


class Life:
    """Plays a legal weekly round on one cylinder through the service."""

    def __init__(self, app: Any, demo: dict[str, Any], start: dt.datetime) -> None:
        from ledger import registry
        from ledger.store import transaction

        self.app, self.demo, self.t = app, demo, start
        self.rt = app.extensions["ledger"]
        with transaction(self.rt.engine) as s:
            self.station = registry.actor_for_token(s, demo["tokens"]["station_a"])
            self.driver = registry.actor_for_token(s, demo["tokens"]["driver_a"])
            self.owner = registry.actor_for_token(s, demo["tokens"]["enterprise_a"])
        self.code = self._register()
        self.customer = self._customer()  # the restaurant every round delivers to
        self.events = 1

    def _register(self) -> str:
        from app.demo import cylinder_spec
        from ledger import service
        from ledger.store import transaction

        spec = cylinder_spec("LONG000001", self.t.date() - dt.timedelta(days=30))
        with transaction(self.rt.engine) as s:
            cylinder, _ = service.register_cylinder(
                s, self.rt.authority, self.owner, spec, self.t, params=self.rt.params
            )
            return str(cylinder.code)

    def _append(self, who: Any, kind: str, payload: dict[str, Any]) -> None:
        from ledger import service
        from ledger.store import transaction

        with transaction(self.rt.engine) as s:
            result = service.append_event(
                s, self.rt.authority, who, self.code, kind, payload, self.t,
                params=self.rt.params,
            )  # fmt: skip
        if result.refusal is not None:
            raise SystemExit(f"the round was refused at {kind}: {result.refusal}")
        self.events += 1
        self.t += STEP

    def round(self) -> None:
        """Check, fill, dispatch, deliver, return: four events on the chain."""
        from ledger import checks
        from ledger.store import transaction

        station_id = self.demo["stations"]["a"]
        with transaction(self.rt.engine) as s:
            decision = checks.fill_check(
                s, self.rt.authority, self.station, station_id, self.code, self.t,
                self.rt.params,
            ).decision  # fmt: skip
        if not decision.allowed:
            raise SystemExit(f"the round's fill check was refused: {decision.to_dict()}")
        self.t += STEP
        self._append(self.station, "filled", {"station_id": station_id, "gross_kg": 31.8,
                                              "tare_kg": 16.8, "net_kg": 15.0})  # fmt: skip
        self._append(self.driver, "dispatched", {"vehicle": self.demo["vehicles"]["a"]})
        delivered = {"customer_id": self.customer, "checklist": CHECKLIST}
        self._append(self.driver, "delivered", delivered)
        self._append(self.driver, "returned", {"customer_id": self.customer})

    def publish(self) -> None:
        """Integrate what was appended into the Merkle log and sign a checkpoint, as the
        scheduler does: every event then has its leaf and the trace proves the last one."""
        from ledger import log
        from ledger.store import transaction

        with transaction(self.rt.engine) as s:
            log.integrate(s)
            log.publish_checkpoint(s, self.rt.authority.server, self.rt.authority.origin)

    def _customer(self) -> int:
        from sqlalchemy import select

        from ledger.model import Customer
        from ledger.store import transaction

        with transaction(self.rt.engine, write=False) as s:
            found = (
                s.execute(
                    select(Customer.id).where(
                        Customer.enterprise_id == self.demo["enterprises"]["a"]
                    )  # type: ignore[arg-type]
                )
                .scalars()
                .first()
            )
        assert found is not None
        return int(found)


def _timed(call: Any) -> tuple[float, int, int]:
    """Median ms of ``RUNS`` calls, the last answer's status and size in bytes."""
    times, resp = [], None
    for _ in range(RUNS):
        started = time.perf_counter()
        resp = call()
        times.append((time.perf_counter() - started) * 1000)
    assert resp is not None
    return statistics.median(times), resp.status_code, len(resp.get_data())


def measure(app: Any, demo: dict[str, Any], life: Life) -> dict[str, tuple[float, int, int]]:
    """Each view's median time, status and size at the chain's current length."""
    client = app.test_client()
    regulator = {"Authorization": f"Bearer {demo['tokens']['regulator']}"}
    station = {"Authorization": f"Bearer {demo['tokens']['station_a']}"}
    _login(client, demo)
    check = {"station_id": demo["stations"]["a"], "scan": life.code}
    history = client.get(f"/api/v1/cylinders/{life.code}/events", headers=regulator).get_json()
    page = client.get(f"/regulator/trace?code={life.code}").get_data(as_text=True)
    if history["events"][-1]["leaf_index"] is None or 'id="proof" class="good"' not in page:
        raise SystemExit("the chain is not in a signed checkpoint: the proof would not be timed")
    return {
        "API events": _timed(
            lambda: client.get(f"/api/v1/cylinders/{life.code}/events", headers=regulator)
        ),
        "trace page": _timed(lambda: client.get(f"/regulator/trace?code={life.code}")),
        "trace, all": _timed(lambda: client.get(f"/regulator/trace?code={life.code}&all=1")),
        "EPCIS export": _timed(lambda: client.get(f"/regulator/trace/{life.code}/epcis.jsonld")),
        "public page": _timed(lambda: app.test_client().get(f"/c/{life.code}")),
        "fill check": _timed(
            lambda: client.post("/api/v1/fill-checks", json=check, headers=station)
        ),
    }


def _login(client: Any, demo: dict[str, Any]) -> None:
    """The regulator's page session (the login form, its CSRF token read from the page)."""
    import re

    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    form = {"login": "regulator", "password": demo["passwords"]["regulator"]}
    if token:
        form["csrf_token"] = token.group(1)
    resp = client.post("/login", data=form)
    if resp.status_code not in (302, 303):
        raise SystemExit(f"the regulator's login failed: {resp.status_code}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--sizes", default="100,1000,4000")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    import load

    from app import create_app

    with tempfile.TemporaryDirectory(prefix="bench-chain-") as tmpdir:
        env, demo, schema = load.prepare(args.backend, Path(tmpdir))
        try:
            app = create_app({
                "DATABASE_URL": env["DATABASE_URL"], "INSTANCE_PATH": env["LEDGER_INSTANCE"],
                "KEYS_DIR": env["LEDGER_KEYS_DIR"], "LEDGER_ORIGIN": env["LEDGER_ORIGIN"],
                "PUBLIC_BASE_URL": env["PUBLIC_BASE_URL"], "LOG_REQUESTS": False,
            })  # fmt: skip
            start = dt.datetime.now(dt.UTC) - STEP * (2 * max(sizes)) - dt.timedelta(days=1)
            life = Life(app, demo, start)
            print(f"backend: {args.backend}")
            print(f"{'events':>7} {'view':<12} {'ms':>9} {'status':>6} {'bytes':>10}")
            for size in sizes:
                grow_started = time.perf_counter()
                while life.events + 4 <= size:
                    life.round()
                life.publish()
                grown = time.perf_counter() - grow_started
                for view, (ms, status, size_bytes) in measure(app, demo, life).items():
                    print(f"{life.events:>7} {view:<12} {ms:>9.1f} {status:>6} {size_bytes:>10}")
                print(f"        (grown in {grown:.1f} s)", flush=True)
            app.extensions["ledger"].engine.dispose()
        finally:
            if schema is not None:
                load.drop_schema(schema)


if __name__ == "__main__":
    main()
