"""The regulator's lists on a phone: each table keeps readable columns and scrolls sideways
in its own box; the page itself never scrolls sideways (a squashed eight-column table was
one word a line)."""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By

from tests import flows
from tests.flows import check, register
from tests.integration.cycle import OK, on_truck
from tests.pages.conftest import browser_login, shot, until

PAGES = (
    "/regulator/blocked",
    "/regulator/refused",
    "/regulator/reports",
    "/regulator/cylinders/overdue",
    "/regulator/enterprises",
)
MEASURE = """
const boxes = [...document.querySelectorAll('.scroll')];
return {page: document.documentElement.scrollWidth, view: window.innerWidth,
        boxes: boxes.map(b => ({box: b.clientWidth, inside: b.scrollWidth,
                                table: b.querySelector('table').offsetWidth}))};
"""


def test_the_lists_tables_scroll_in_their_box_on_a_phone(
    client: Any, demo: Any, live_server: str, phone: Any
) -> None:
    check(client, demo, register(client, demo, who="enterprise_b"), "a")  # a blocked fill
    payload = {"customer_id": flows.customer(client, demo), "checklist": {**OK, "hose": False}}
    refused = flows.event(client, demo, on_truck(client, demo), "driver_a", "delivered", payload)
    assert refused.status_code == 409  # a refused delivery: a row of eight columns
    browser_login(phone, live_server, demo, "regulator")
    until(phone, lambda d: d.find_elements(By.CSS_SELECTOR, "nav.tabs"))
    for path in PAGES:
        phone.get(live_server + path)
        until(phone, lambda d: d.find_elements(By.CSS_SELECTOR, "nav.tabs"))
        seen = phone.execute_script(MEASURE)
        assert seen["boxes"], f"{path}: no table"
        assert seen["page"] <= seen["view"], f"{path}: the page scrolls sideways: {seen}"
        for box in seen["boxes"]:
            assert box["box"] <= seen["view"] < box["table"] <= box["inside"], (path, seen)
        shot(phone, "regulator-phone" + path.replace("/", "-"))
