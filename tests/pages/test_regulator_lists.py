"""/regulator lists: true totals, pages, complete CSV; the stale days setting; closed
reports; stored values shown by their Chinese names."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from tests.flows import event, history, register
from tests.pages.conftest import csrf_of


def _csv_codes(client: Any, url: str) -> list[str]:
    text = client.get(url).get_data(as_text=True).lstrip("\ufeff")
    return [row[0] for row in list(csv.reader(io.StringIO(text)))[1:]]


def test_lists_count_everything_page_by_page_and_export_every_row(
    client: Any, demo: Any, app: Any, as_person: Any
) -> None:
    app.config["LIST_PAGE_SIZE"] = 2
    mine = {register(client, demo, manufactured_on="2010-01-01") for _ in range(3)}
    regulator = as_person("regulator")
    everything = _csv_codes(regulator, "/regulator/cylinders/overdue.csv")
    assert mine <= set(everything) and len(everything) == len(set(everything)) >= 3
    total = len(everything)
    overview = regulator.get("/regulator/").get_data(as_text=True)
    assert f'id="n-overdue">{total}<' in overview  # counted in SQL, not a page's length
    seen: list[str] = []
    pages = -(-total // 2)
    for number in range(1, pages + 1):
        html = regulator.get(f"/regulator/cylinders/overdue?page={number}").get_data(as_text=True)
        rows = re.findall(r"<tr><td><a href=\"/regulator/trace\?code=(\w+)\"", html)
        assert len(rows) == min(2, total - len(seen))
        first = len(seen) + 1
        assert f"第 {first}–{first + len(rows) - 1} 条，共 {total} 条" in html
        assert ('id="next-page"' in html) == (number < pages)
        seen += rows
    assert seen == everything  # the pages and the CSV: the same rows in the same order


def test_blocked_fills_are_paged_with_their_total(
    client: Any, demo: Any, app: Any, as_person: Any
) -> None:
    from tests.flows import check

    app.config["LIST_PAGE_SIZE"] = 1
    for _ in range(2):
        check(client, demo, register(client, demo, who="enterprise_b"), "a")
    regulator = as_person("regulator")
    html = regulator.get("/regulator/blocked?reason=NOT_OWNED").get_data(as_text=True)
    assert "第 1–1 条，共 2 条" in html and 'id="next-page"' in html
    assert len(_csv_codes(regulator, "/regulator/blocked.csv?reason=NOT_OWNED")) == 2


def test_the_stale_days_come_from_the_config(app: Any, as_person: Any) -> None:
    app.config["STALE_DAYS"] = 7
    html = as_person("regulator").get("/regulator/").get_data(as_text=True)
    label = re.search(r'id="stale-label">([^<]*)<', html)
    assert label and label.group(1) == "7 天未见"
    assert "/regulator/cylinders/stale?days=7" in html


def test_holding_from_a_closed_report_is_refused_and_changes_nothing(
    client: Any, demo: Any, as_person: Any
) -> None:
    code = register(client, demo)
    page = client.get(f"/c/{code}").get_data(as_text=True)
    token = re.search(r'name="token" value="([^"]+)"', page).group(1)
    form = {"csrf_token": csrf_of(page), "token": token, "kind": "leak", "note": ""}
    client.post(f"/c/{code}/report", data=form)
    regulator = as_person("regulator")
    queue = regulator.get("/regulator/reports").get_data(as_text=True)
    report_id = re.search(r'id="report-(\d+)"', queue).group(1)
    url = f"/regulator/reports/{report_id}"
    dismissed = regulator.post(url, data={"csrf_token": csrf_of(queue), "action": "dismiss"})
    assert dismissed.status_code == 302
    before = history(client, demo, code)
    # The same page, still open in another tab: "hold" on the report now closed.
    late = regulator.post(url, data={"csrf_token": csrf_of(queue), "action": "hold"})
    assert late.status_code == 302
    assert "此举报已处理，未作任何改动" in regulator.get(late.location).get_data(as_text=True)
    assert history(client, demo, code) == before  # no hold
    closed = regulator.get("/regulator/reports?status=dismissed").get_data(as_text=True)
    assert f'id="report-{report_id}"' in closed and "已驳回" in closed


def test_stored_values_show_in_chinese(client: Any, demo: Any, as_person: Any) -> None:
    code = register(client, demo, manufactured_on="2010-01-01")
    page = client.get(f"/c/{code}").get_data(as_text=True)
    token = re.search(r'name="token" value="([^"]+)"', page).group(1)
    form = {"csrf_token": csrf_of(page), "token": token, "kind": "leak", "note": ""}
    client.post(f"/c/{code}/report", data=form)
    regulator = as_person("regulator")
    listed = regulator.get("/regulator/cylinders/overdue").get_data(as_text=True)
    row = re.search(rf"{code}</a></td><td>[^<]*</td><td>([^<]*)</td>", listed)
    assert row and row.group(1) == "空瓶"
    reports = regulator.get("/regulator/reports").get_data(as_text=True)
    assert "漏气或有异味" in reports
    assert "<td>leak</td>" not in reports
    licences = regulator.get("/regulator/enterprises").get_data(as_text=True)
    statuses = re.findall(r'<td class="status">(\S+) ', licences)
    assert statuses and "valid" not in statuses and "有效" in statuses


def test_a_held_cylinder_from_a_report_shows_no_report_number_to_the_public(
    client: Any, demo: Any
) -> None:
    code = register(client, demo)
    resp = event(client, demo, code, "regulator", "held", {"reason": "举报核查 public report #7"})
    assert resp.status_code == 201
    html = client.get(f"/c/{code}").get_data(as_text=True)
    assert "监管扣押" in html and "#7" not in html and "举报核查" not in html
