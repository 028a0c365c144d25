"""A household has no cylinder room: the driver answers that item "not applicable" (null on
the chain), instead of ticking a check that was never made or being refused for it."""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By

from tests.flows import customer, fill, history, register
from tests.pages.conftest import browser_login
from tests.pages.test_driver_review_fixes import TICKED, _pick, _ready, _scan, _text, _until

NA = ".check-na[data-item=storage_room]"
ROOM = ".check-item[value=storage_room]"


def test_a_household_delivery_records_the_cylinder_room_as_not_applicable(
    client: Any, demo: Any, live_server: str, phone: Any
) -> None:
    code = register(client, demo)
    fill(client, demo, code)
    home = customer(client, demo, kind="household")
    browser_login(phone, live_server, demo, "driver_a")
    _ready(phone)
    _scan(phone, code)
    _until(phone, lambda d: "已记录" in _text(d, "results"))
    phone.find_element(By.CSS_SELECTOR, "input[value=delivered]").click()
    _pick(phone, home)
    assert "不适用" in phone.find_element(By.CSS_SELECTOR, NA).find_element(By.XPATH, "..").text
    for box in phone.find_elements(By.CSS_SELECTOR, ".check-item"):
        if box.get_attribute("value") != "storage_room":
            box.click()
    phone.find_element(By.CSS_SELECTOR, ROOM).click()  # ticked by habit, then "not applicable"
    phone.find_element(By.CSS_SELECTOR, NA).click()
    room = phone.find_element(By.CSS_SELECTOR, ROOM)
    assert not room.is_selected() and not room.is_enabled()  # one answer per item
    _scan(phone, code)
    _until(phone, lambda d: "签收 · 已记录" in _text(d, "results"))
    delivered = [e for e in history(client, demo, code) if e["type"] == "delivered"]
    checklist = delivered[-1]["payload"]["checklist"]
    assert checklist["storage_room"] is None
    assert all(checklist[item] is True for item in checklist if item != "storage_room")
    # Cleared for the next customer, the room's box usable again.
    assert phone.execute_script(TICKED) == 0
    assert not phone.find_element(By.CSS_SELECTOR, NA).is_selected()
    assert phone.find_element(By.CSS_SELECTOR, ROOM).is_enabled()
