"""/regulator lists decide as the rules do: short weight on the net on record (gross −
the registered tare, not the client's net), blocked fills by the reasons array only."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from tests.flows import check, event, register


def _weigh(client: Any, demo: Any, tare: float, gross: float, net: float) -> str:
    """A 14.5 kg cylinder of registered tare 15.0 kg, filled with these scale readings."""
    code = register(client, demo, capacity_kg=14.5, tare_kg=15.0)
    assert check(client, demo, code).get_json()["allowed"]
    payload = {"station_id": demo["stations"]["a"], "gross_kg": gross, "tare_kg": tare}
    resp = event(client, demo, code, "station_a", "filled", {**payload, "net_kg": net})
    assert resp.status_code == 201, resp.get_json()
    return code


def test_short_weight_is_gross_less_the_registered_tare(
    client: Any, demo: Any, as_person: Any
) -> None:
    # Client: 29.15 − 15.2 = 13.95 (short); on record: 29.15 − 15.0 = 14.15 (not short).
    heavy_tare = _weigh(client, demo, tare=15.2, gross=29.15, net=13.95)
    # Client: 28.85 − 14.8 = 14.05 (not short); on record: 28.85 − 15.0 = 13.85 (short).
    light_tare = _weigh(client, demo, tare=14.8, gross=28.85, net=14.05)
    regulator = as_person("regulator")
    html = regulator.get("/regulator/cylinders/short-weight").get_data(as_text=True)
    assert heavy_tare not in html and light_tare in html
    text = regulator.get("/regulator/cylinders/short-weight.csv").get_data(as_text=True)
    rows = {r[1]: r for r in csv.reader(io.StringIO(text.lstrip("\ufeff")))}
    assert heavy_tare not in rows
    assert float(rows[light_tare][3]) == 13.85 and float(rows[light_tare][4]) == 14.5


def test_a_scan_text_equal_to_a_reason_code_is_not_that_reason(
    client: Any, demo: Any, as_person: Any
) -> None:
    code = register(client, demo)
    payload = {"station_id": demo["stations"]["a"], "reasons": ["LABEL_DAMAGED"], "scan": "HELD"}
    assert event(client, demo, code, "station_a", "fill_blocked", payload).status_code == 201
    regulator = as_person("regulator")
    held = regulator.get("/regulator/blocked?reason=HELD").get_data(as_text=True)
    assert code not in held and 'data-total="0"' in held  # counted exactly too
    damaged = regulator.get("/regulator/blocked.csv?reason=LABEL_DAMAGED").get_data(as_text=True)
    assert code in damaged


@pytest.mark.parametrize(
    ("days", "status"),
    [("abc", 400), ("-5", 400), ("1e3", 400), ("1.5", 400), ("9" * 30, 400), ("99999", 200)],
)
def test_a_bad_days_is_a_400_page_and_a_huge_one_is_capped(
    client: Any, demo: Any, as_person: Any, days: str, status: int
) -> None:
    regulator = as_person("regulator")
    for path in ("/regulator/cylinders/short-weight", "/regulator/cylinders/short-weight.csv"):
        resp = regulator.get(f"{path}?days={days}")
        assert resp.status_code == status, (path, days)
        if status == 400:
            assert "days" in resp.get_data(as_text=True)
