"""The scale readings of a fill are held to the cylinder's registered tare.

A tare more than 0.2 kg off the registered one, or a net more than 0.05 kg off gross −
tare, is a 422 and records nothing; short weight and overfill are judged on gross − the
registered tare, whatever tare the client sent.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests import flows
from tests.conftest import bearer


def weighed(client: Any, demo: Any, code: str, **readings: float) -> Any:
    assert flows.check(client, demo, code).get_json()["allowed"] is True
    payload = {"station_id": demo["stations"]["a"], **readings}
    return flows.event(client, demo, code, "station_a", "filled", payload)


@pytest.mark.parametrize(
    ("readings", "word"),
    [
        ({"gross_kg": 25.0, "tare_kg": 1.0, "net_kg": 24.0}, "16.8"),  # the client's tare
        ({"gross_kg": 25.0, "net_kg": 24.0}, "16.8"),  # no tare: the registered one counts
        ({"gross_kg": 31.8, "tare_kg": 17.1, "net_kg": 14.7}, "17.1"),  # 0.3 kg off
        ({"gross_kg": 31.8, "tare_kg": 16.8, "net_kg": 14.9}, "14.9"),  # 0.1 kg off gross − tare
    ],
)
def test_a_fill_whose_readings_disagree_with_the_registered_tare_is_a_422(
    client, demo, readings, word
):
    code = flows.register(client, demo)
    resp = weighed(client, demo, code, **readings)
    assert resp.status_code == 422, resp.get_json()
    assert word in resp.get_json()["detail"] and "皮重" in resp.get_json()["detail"]
    assert len(flows.history(client, demo, code)) == 1


def test_readings_within_the_tolerances_are_recorded(client, demo):
    code = flows.register(client, demo)
    resp = weighed(client, demo, code, gross_kg=31.9, tare_kg=16.95, net_kg=14.98)
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["warnings"] == []


def test_short_weight_is_judged_with_the_registered_tare_not_the_clients(client, demo):
    code = flows.register(client, demo)
    # The client's tare (16.6) makes 14.6 kg, within tolerance; the registered 16.8: 14.4.
    resp = weighed(client, demo, code, gross_kg=31.2, tare_kg=16.6, net_kg=14.6)
    assert resp.status_code == 201, resp.get_json()
    assert [w["code"] for w in resp.get_json()["warnings"]] == ["SHORT_WEIGHT"]
    state = client.get(
        f"/api/v1/cylinders/{code}", headers=bearer(demo["tokens"]["regulator"])
    ).get_json()
    assert state["short_weight"] is True and state["last_net_kg"] == pytest.approx(14.4)


def test_overfill_is_judged_with_the_registered_tare(client, demo):
    code = flows.register(client, demo)
    resp = weighed(client, demo, code, gross_kg=32.4, tare_kg=17.0, net_kg=15.4)  # 15.6 really
    assert resp.status_code == 201, resp.get_json()
    assert [w["code"] for w in resp.get_json()["warnings"]] == ["OVERFILLED"]
    truck = {"vehicle": demo["vehicles"]["a"]}
    leaving = flows.event(client, demo, code, "driver_a", "dispatched", truck)
    assert leaving.status_code == 409
    assert [r["code"] for r in leaving.get_json()["reasons"]] == ["OVERFILLED"]
