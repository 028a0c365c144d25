"""/driver/customers: a driver finds their enterprise's customer files by a search, never
another enterprise's nor an erased one; the phone's recent ones are checked against it."""

from __future__ import annotations

import json
import re
from typing import Any

from app.pages.driver import INLINE_CAP
from tests.conftest import bearer
from tests.flows import fill, register
from tests.pages.conftest import browser_login, login, shot, until


def _open(
    client: Any, demo: Any, name: str, address: str = "渝北区龙溪街道9号", **more: Any
) -> int:
    """A customer file of enterprise A (or of B, with who="enterprise_b"); its id."""
    who = more.pop("who", "enterprise_a")
    body = {"name": name, "kind": "restaurant", "address": address, "basement": False, **more}
    resp = client.post("/api/v1/customers", json=body, headers=bearer(demo["tokens"][who]))
    assert resp.status_code == 201, resp.get_json()
    cid: int = resp.get_json()["id"]
    return cid


def _names(driver: Any, q: str) -> list[str]:
    resp = driver.get("/driver/customers", query_string={"q": q})
    assert resp.status_code == 200, resp.get_json()
    return [c["name"] for c in resp.get_json()["customers"]]


def test_a_file_is_found_by_part_of_its_name_address_or_phone(
    client: Any, demo: Any, as_person: Any
) -> None:
    _open(client, demo, "观音桥老麻抄手", "江北区观音桥步行街8号", phone="023-6789 1234")
    driver = as_person("driver_a")
    assert _names(driver, "麻抄") == ["观音桥老麻抄手"]
    assert _names(driver, "步行街8") == ["观音桥老麻抄手"]
    assert _names(driver, "6789 12") == ["观音桥老麻抄手"]
    found = driver.get("/driver/customers?q=%E9%BA%BB%E6%8A%84").get_json()["customers"][0]
    assert (
        found["address"] == "江北区观音桥步行街8号" and "phone" not in found
    )  # shown, not the phone


def test_results_are_by_name_at_most_twenty_and_say_there_are_more(
    client: Any, demo: Any, as_person: Any
) -> None:
    for n in (22, 3, 11, 1, *range(4, 10), *range(12, 22), 2, 10, 23):
        _open(client, demo, f"批量客户{n:02d}")
    driver = as_person("driver_a")
    body = driver.get("/driver/customers?q=批量客户").get_json()
    assert [c["name"] for c in body["customers"]] == [f"批量客户{n:02d}" for n in range(1, 21)]
    assert body["more"] is True
    few = driver.get("/driver/customers?q=批量客户2").get_json()
    assert len(few["customers"]) == 4 and few["more"] is False


def test_names_starting_with_the_query_come_first_then_names_then_addresses(
    client: Any, demo: Any, as_person: Any
) -> None:
    _open(client, demo, "川菜馆", "江北区老王路3号")  # found by its address
    _open(client, demo, "巷子老王面馆")  # the name contains it
    _open(client, demo, "老王火锅")  # the name starts with it
    _open(client, demo, "老王烧烤")
    driver = as_person("driver_a")
    assert _names(driver, "老王") == ["老王火锅", "老王烧烤", "巷子老王面馆", "川菜馆"]


def test_percent_and_underscore_are_searched_as_themselves(
    client: Any, demo: Any, as_person: Any
) -> None:
    _open(client, demo, "百分百_烧烤", "渝北区100%满意路1号")
    _open(client, demo, "百分百X烧烤", "渝北区100满意路2号")
    driver = as_person("driver_a")
    assert _names(driver, "百_烧") == ["百分百_烧烤"]
    assert _names(driver, "100%满") == ["百分百_烧烤"]
    assert _names(driver, "%") == ["百分百_烧烤"]
    assert _names(driver, "\\") == []


def test_a_driver_never_finds_another_enterprises_files(
    client: Any, demo: Any, as_person: Any
) -> None:
    _open(client, demo, "礼嘉独家火锅", who="enterprise_b")
    driver = as_person("driver_a")
    assert _names(driver, "礼嘉独家") == []
    assert _names(driver, "礼嘉") == []  # the demo's enterprise B has 礼嘉 files too
    assert all(name != "山城老火锅（礼嘉店）" for name in _names(driver, "火锅"))
    assert _names(driver, "13802380000") == ["老码头火锅（龙溪店）"]  # B's file has this phone too


def test_an_erased_file_is_never_found(client: Any, demo: Any, as_person: Any) -> None:
    cid = _open(client, demo, "待删除客户", "渝北区删除路1号")
    resp = client.delete(f"/api/v1/customers/{cid}", headers=bearer(demo["tokens"]["enterprise_a"]))
    assert resp.status_code == 204
    driver = as_person("driver_a")
    assert _names(driver, "待删除") == [] and _names(driver, "删除路") == []
    known = driver.get(f"/driver/customers/known?ids={cid}").get_json()
    assert known == {"customers": []}


def test_a_query_of_no_or_too_many_characters_is_refused(as_person: Any) -> None:
    driver = as_person("driver_a")
    for q in ("", "   ", "x" * 51):
        resp = driver.get("/driver/customers", query_string={"q": q})
        assert resp.status_code == 422
        assert resp.get_json()["error"] == "invalid" and resp.get_json()["detail"]
    assert driver.get("/driver/customers").status_code == 422
    assert (
        driver.get("/driver/customers", query_string={"q": " 老码头 " + "x" * 40}).status_code
        == 200
    )


def test_only_drivers_may_search(app: Any, demo: Any) -> None:
    for who in ("regulator", "station_a"):
        client = app.test_client()
        login(client, demo, who)
        assert client.get("/driver/customers?q=火锅").status_code == 403
        assert client.get("/driver/customers/known?ids=1").status_code == 403


def test_logged_out_the_search_answers_the_login_page(client: Any) -> None:
    resp = client.get("/driver/customers?q=火锅")
    assert resp.status_code == 302 and "/login" in resp.location


def test_the_phones_recent_files_are_checked_unknown_ones_left_out(
    client: Any, demo: Any, as_person: Any
) -> None:
    mine = _open(client, demo, "常去的面馆")
    theirs = _open(client, demo, "别家的面馆", who="enterprise_b")
    driver = as_person("driver_a")
    body = driver.get(f"/driver/customers/known?ids={theirs},{mine},999999,9999999999").get_json()
    assert [c["id"] for c in body["customers"]] == [mine]
    assert driver.get("/driver/customers/known?ids=").get_json() == {"customers": []}
    for bad in ("1,x", ",".join(["1"] * 11), "-1", "²", "1" * 5000):
        assert driver.get(f"/driver/customers/known?ids={bad}").status_code == 422


def _embedded(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="customers-data">(.*?)</script>', html)
    assert found, "no customers-data on the page"
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def test_a_small_enterprises_files_all_come_with_the_page(
    client: Any, demo: Any, as_person: Any
) -> None:
    html = as_person("driver_a").get("/driver/").get_data(as_text=True)
    inline = _embedded(html)["inline"]
    assert len(inline) == 10 and "老码头火锅（龙溪店）" in [c["name"] for c in inline]
    assert "山城老火锅（礼嘉店）" not in html  # enterprise B's
    assert all("phone" not in c for c in inline)


def test_a_large_enterprises_files_never_all_come_with_the_page(
    client: Any, demo: Any, as_person: Any
) -> None:
    for n in range(INLINE_CAP - 10 + 1):  # the demo's 10 files, and these: one over the cap
        _open(client, demo, f"批量客户{n:02d}")
    html = as_person("driver_a").get("/driver/").get_data(as_text=True)
    assert _embedded(html) == {"inline": None, "chosen": None}
    assert "批量客户" not in html and "老码头火锅" not in html


def test_the_file_just_opened_comes_chosen_but_never_anothers(
    client: Any, demo: Any, as_person: Any
) -> None:
    mine = _open(client, demo, "刚登记的面馆")
    theirs = _open(client, demo, "别家的秘密面馆", who="enterprise_b")
    driver = as_person("driver_a")
    chosen = _embedded(driver.get(f"/driver/?customer={mine}").get_data(as_text=True))["chosen"]
    assert chosen["id"] == mine and chosen["name"] == "刚登记的面馆"
    for other in (str(theirs), "999999", "x", "99999999999", "²", "1" * 5000, f"{theirs},{mine}"):
        html = driver.get(f"/driver/?customer={other}").get_data(as_text=True)
        assert _embedded(html)["chosen"] is None and "别家的秘密面馆" not in html


# --- in Chromium, on a phone ---------------------------------------------------------------

RECENTS = "return localStorage.getItem('recent-customers-actor-' + arguments[0]) || '[]'"
OFFLINE = {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}


def _on_page(driver: Any, base: str, demo: Any) -> tuple[Any, str, dict[str, Any]]:
    """The driver page, logged in and set up; (By, the actor id, the page's messages)."""
    from selenium.webdriver.common.by import By

    browser_login(driver, base, demo, "driver_a")
    until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#driver[data-ready]"))
    actor = driver.find_element(By.ID, "driver").get_attribute("data-actor")
    text = driver.execute_script("return document.getElementById('messages').textContent")
    return By, actor, json.loads(text)


def _recents(driver: Any, actor: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(driver.execute_script(RECENTS, actor))
    return rows


def test_a_large_enterprises_driver_finds_a_customer_and_delivers_to_it(
    client: Any, demo: Any, live_server: str, phone: Any
) -> None:
    from selenium.webdriver.common.keys import Keys

    for n in range(INLINE_CAP + 1):
        _open(client, demo, f"批量客户{n:02d}")
    target = _open(client, demo, "观音桥老麻抄手", "江北区观音桥步行街8号")
    code = register(client, demo)
    fill(client, demo, code)
    By, actor, T = _on_page(phone, live_server, demo)
    assert "批量客户" not in phone.page_source and "观音桥" not in phone.page_source
    phone.find_element(By.ID, "code-input").send_keys(code + Keys.ENTER)  # loaded
    until(phone, lambda d: "已记录" in d.find_element(By.ID, "results").text)
    phone.find_element(By.CSS_SELECTOR, "input[value=delivered]").click()
    phone.find_element(By.ID, "code-input").send_keys(code + Keys.ENTER)
    assert phone.find_element(By.ID, "scan-status").text == T["choose_customer"]
    phone.find_element(By.ID, "customer-search").send_keys("步行街")
    pick = f'#customer-results button[data-id="{target}"]'
    option = until(phone, lambda d: d.find_elements(By.CSS_SELECTOR, pick))[0]
    assert "江北区观音桥步行街8号" in option.text
    shot(phone, "driver-customer-found-phone")
    option.click()
    assert "观音桥老麻抄手" in phone.find_element(By.ID, "customer-card").text
    assert not phone.find_element(By.ID, "customer-search").is_displayed()
    for box in phone.find_elements(By.CSS_SELECTOR, ".check-item"):
        box.click()
    shot(phone, "driver-customer-chosen-phone")
    phone.find_element(By.ID, "code-input").send_keys(code + Keys.ENTER)
    until(phone, lambda d: "签收" in d.find_element(By.ID, "results").text)
    state = client.get(f"/api/v1/cylinders/{code}", headers=bearer(demo["tokens"]["regulator"]))
    assert state.get_json()["customer_id"] == target
    # The phone remembers the file by id and name only (PIPL): no address, no phone.
    assert _recents(phone, actor) == [
        {"id": target, "name": "观音桥老麻抄手", "kind": "restaurant", "basement": False}
    ]
    # Offline, the recent ones are searched on the phone, and the page says only they are.
    phone.execute_cdp_cmd("Network.enable", {})
    phone.execute_cdp_cmd("Network.emulateNetworkConditions", OFFLINE)
    phone.find_element(By.ID, "customer-change").click()
    assert phone.find_element(By.ID, "customer").get_attribute("value") == ""
    search = phone.find_element(By.ID, "customer-search")
    search.send_keys("批量客户01")
    until(phone, lambda d: d.find_element(By.ID, "customer-hint").text == T["offline_recent"])
    assert not phone.find_elements(By.CSS_SELECTOR, "#customer-results button")
    search.clear()
    search.send_keys("麻抄")
    until(phone, lambda d: d.find_elements(By.CSS_SELECTOR, pick))
    assert phone.find_element(By.ID, "customer-hint").text == T["offline_recent"]
    shot(phone, "driver-customer-offline-phone")
    phone.find_element(By.CSS_SELECTOR, pick).click()
    assert phone.find_element(By.ID, "customer").get_attribute("value") == str(target)


def test_a_new_file_is_chosen_and_erased_ones_are_forgotten(
    client: Any, demo: Any, live_server: str, phone: Any
) -> None:
    kept = _open(client, demo, "常去的面馆")
    erased = _open(client, demo, "搬走的面馆")
    token = bearer(demo["tokens"]["enterprise_a"])
    assert client.delete(f"/api/v1/customers/{erased}", headers=token).status_code == 204
    By, actor, _ = _on_page(phone, live_server, demo)
    rows = [
        {"id": i, "name": n}
        for i, n in ((erased, "搬走的面馆"), (999999, "幽灵"), (kept, "常去的面馆"))
    ]
    phone.execute_script(
        "localStorage.setItem('recent-customers-actor-' + arguments[0], arguments[1])",
        actor,
        json.dumps(rows),
    )
    phone.refresh()
    until(phone, lambda d: [r["id"] for r in _recents(d, actor)] == [kept])
    assert _recents(phone, actor)[0]["kind"] == "restaurant"  # refreshed from the server
    phone.find_element(By.CSS_SELECTOR, "input[value=delivered]").click()
    phone.find_element(By.CSS_SELECTOR, "details.new-customer summary").click()
    form = phone.find_element(By.ID, "customer-form")
    form.find_element(By.NAME, "name").send_keys("新开的烧烤店")
    form.find_element(By.NAME, "address").send_keys("渝北区龙溪街道新路1号")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    until(phone, lambda d: "customer=" in d.current_url)
    until(phone, lambda d: d.find_elements(By.CSS_SELECTOR, "#driver[data-ready]"))
    opened = int(phone.current_url.rsplit("customer=", 1)[1])
    assert phone.find_element(By.ID, "customer").get_attribute("value") == str(opened)
    assert "新开的烧烤店" in phone.find_element(By.ID, "customer-card").text
    assert [r["id"] for r in _recents(phone, actor)] == [opened, kept]
