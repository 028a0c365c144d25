"""A JSON body holding an integer too long for Python to convert (over 4,300 digits) is a
malformed body: a 400 problem, never a 500, and nothing recorded."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import bearer

HUGE = "9" * 5000


@pytest.mark.parametrize(
    ("who", "path", "body"),
    [
        ("station_a", "/api/v1/fill-checks", f'{{"station_id": {HUGE}, "scan": "X"}}'),
        ("enterprise_a", "/api/v1/cylinders", f'{{"capacity_kg": {HUGE}}}'),
        ("driver_a", "/api/v1/customers", f'{{"name": "x", "kind": {HUGE}}}'),
    ],
)
def test_an_integer_too_long_to_convert_is_a_400_problem(
    client: Any, demo: Any, who: str, path: str, body: str
) -> None:
    resp = client.post(
        path,
        data=body,
        headers={**bearer(demo["tokens"][who]), "Content-Type": "application/json"},
    )
    assert resp.status_code == 400, resp.get_data(as_text=True)[:300]
    assert resp.mimetype == "application/problem+json"
    assert "too long" in resp.get_json()["detail"]
