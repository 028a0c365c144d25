"""A delivery is checked on the road as the loading was: the vehicle it left on must still
hold a valid dangerous-goods permit (DESIGN §5, VEHICLE_NOT_PERMITTED), and the refusal
is recorded as evidence."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import update

from ledger.model import Vehicle
from ledger.store import transaction
from tests import flows
from tests.integration.cycle import OK, on_truck


def _permit_ends(app: Any, plate: str, day: dt.date) -> None:
    with transaction(app.extensions["ledger"].engine) as s:
        s.execute(update(Vehicle).where(Vehicle.plate == plate).values(permit_valid_until=day))


def test_a_delivery_from_a_vehicle_whose_permit_ran_out_on_the_road_is_refused(
    app: Any, client: Any, demo: Any
) -> None:
    code = on_truck(client, demo)
    _permit_ends(app, demo["vehicles"]["a"], flows.local_today() - dt.timedelta(days=3))
    site = flows.customer(client, demo, kind="restaurant")
    resp = flows.event(client, demo, code, "driver_a", "delivered",
                       {"customer_id": site, "checklist": OK})  # fmt: skip
    assert resp.status_code == 409, resp.get_json()
    assert "VEHICLE_NOT_PERMITTED" in [r["code"] for r in resp.get_json()["reasons"]]
    last = flows.history(client, demo, code)[-1]
    assert last["type"] == "delivery_blocked" and last["payload"]["check"] == "delivery"


def test_a_delivery_with_the_permit_valid_today_goes_through(
    app: Any, client: Any, demo: Any
) -> None:
    code = on_truck(client, demo)
    _permit_ends(app, demo["vehicles"]["a"], flows.local_today() + dt.timedelta(days=1))
    site = flows.customer(client, demo, kind="restaurant")
    resp = flows.event(client, demo, code, "driver_a", "delivered",
                       {"customer_id": site, "checklist": OK})  # fmt: skip
    assert resp.status_code == 201, resp.get_json()
