"""/regulator/refused: the hazards the road checks found, for the regulator only."""

from __future__ import annotations

import csv
import io
from typing import Any

from tests import flows
from tests.integration.cycle import OK, on_truck
from tests.pages.conftest import login


def _refused_delivery(client: Any, demo: Any) -> str:
    """A delivery refused for a leaking hose (recorded as a delivery_blocked event)."""
    code = on_truck(client, demo)
    payload = {"customer_id": flows.customer(client, demo), "checklist": {**OK, "hose": False}}
    resp = flows.event(client, demo, code, "driver_a", "delivered", payload)
    assert resp.status_code == 409, resp.get_json()
    return code


def test_a_refused_delivery_is_listed_with_its_failed_item_and_exported(
    client: Any, demo: Any, as_person: Any
) -> None:
    code = _refused_delivery(client, demo)
    regulator = as_person("regulator")
    html = regulator.get("/regulator/refused").get_data(as_text=True)
    row = html[html.index(code) :].split("</tr>", 1)[0]
    assert "安检不合格" in row  # the reason, by its Chinese short name
    nav = html[html.index('<nav class="tabs">') :].split("</nav>", 1)[0]
    assert ">被拒绝的装车与配送</a>" in nav  # the tab names both checks, as the page's title
    assert "胶管" in row and "老火锅" in row  # the failed item and the customer's site
    deliveries = regulator.get("/regulator/refused?check=delivery").get_data(as_text=True)
    dispatches = regulator.get("/regulator/refused?check=dispatch").get_data(as_text=True)
    assert code in deliveries and code not in dispatches
    text = regulator.get("/regulator/refused.csv").get_data(as_text=True).lstrip("\ufeff")
    rows = {r[1]: r for r in list(csv.reader(io.StringIO(text)))[1:]}
    assert rows[code][3:6] == ["delivery", "SAFETY_CHECK_FAILED", "hose"]


def test_only_regulators_see_refused_moves_and_a_bad_filter_is_named(
    app: Any, client: Any, demo: Any
) -> None:
    _refused_delivery(client, demo)
    for role, status in (("regulator", 400), ("enterprise_a", 403), ("driver_a", 403)):
        person = app.test_client()
        login(person, demo, role)
        resp = person.get("/regulator/refused?check=nonsense")
        assert resp.status_code == status, role
        if role == "regulator":  # the page names the filter and its value
            assert "“check”" in resp.get_data(as_text=True) and "nonsense" in resp.get_data(
                as_text=True
            )
        if role != "regulator":
            assert "老火锅" not in person.get("/regulator/refused").get_data(as_text=True)
    assert app.test_client().get("/regulator/refused").status_code == 302  # to the login
