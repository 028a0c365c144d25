"""/regulator, as a reviewer walking the demo read it: an expired licence reads expired, the
reasons chart and table cover the same labelled period, an unregistered code's scans are
listed."""

from __future__ import annotations

import csv
import datetime as dt
import html as html_lib
import io
import re
from typing import Any

import pytest

from ledger import codes
from tests.flows import check, event, fill, local_today, register
from tests.pages.conftest import browser_login, csrf_of, field, shot, until

UTC = dt.UTC


class _Clock:
    """The app's runtime with another clock (the login's own clock left alone)."""

    def __init__(self, app: Any, now: Any) -> None:
        self._rt, self._now = app.extensions["ledger"], now

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rt, name)

    def now(self) -> dt.datetime:
        return self._now(self._rt)  # type: ignore[no-any-return]

    def today(self) -> dt.date:
        return self._rt.params.today(self.now())  # type: ignore[no-any-return]


def _clock(app: Any, monkeypatch: pytest.MonkeyPatch, module: str, now: Any) -> None:
    """The pages of ``module`` (app.pages.<module>) read the clock ``now(runtime)``."""
    import importlib

    pages = importlib.import_module(f"app.pages.{module}")
    monkeypatch.setattr(pages, "runtime", lambda: _Clock(app, now))


def _status_cell(page: str, number: str) -> tuple[str, str, str]:
    """A licence's row on the enterprises page by its number: (row class, standing, status
    cell as text)."""
    row = re.search(
        rf'<tr class="(\w+)" id="lic\d+"(?: data-standing="(\w+)")?>(?:(?!</tr>).)*?'
        rf"<td>{number}</td>(?:(?!</tr>).)*?<td class=\"status\">(.*?)</td>",
        page,
        re.S,
    )
    assert row, f"licence {number} is not listed"
    text = html_lib.unescape(re.sub(r"<[^>]+>", "", row.group(3))).strip()
    return row.group(1), row.group(2) or "", text


def _record_licence(regulator: Any, demo: Any, number: str, start: str, end: str) -> None:
    page = regulator.get("/regulator/enterprises").get_data(as_text=True)
    form = {"csrf_token": csrf_of(page), "once": field(page, "once"), "kind": "gas_business",
            "number": number, "valid_from": start, "valid_until": end}  # fmt: skip
    resp = regulator.post(f"/regulator/enterprises/{demo['enterprises']['a']}/licences", data=form)
    assert resp.status_code == 302


# --- 1. an expired licence -----------------------------------------------------------------


def test_a_licence_past_its_end_date_reads_expired_with_its_end_date(
    app: Any, demo: Any, as_person: Any
) -> None:
    regulator = as_person("regulator")
    today = local_today()
    ended = (today - dt.timedelta(days=1)).isoformat()
    _record_licence(regulator, demo, "EXP-1", "2020-01-01", ended)
    _record_licence(regulator, demo, "LAST-DAY", "2020-01-01", today.isoformat())
    _record_licence(regulator, demo, "FUTURE-1", (today + dt.timedelta(days=3)).isoformat(),
                    "2031-01-01")  # fmt: skip
    page = regulator.get("/regulator/enterprises").get_data(as_text=True)
    css, standing, text = _status_cell(page, "EXP-1")
    assert text == f"⚠ 已过期（有效期至{ended}）"  # not "有效 ✗"
    assert (css, standing) == ("wait", "expired")  # the warning style
    assert _status_cell(page, "LAST-DAY")[1:] == ("valid", "有效 ✓")  # in force all its last day
    assert _status_cell(page, "FUTURE-1")[:2] == ("wait", "not_yet")
    english = regulator.get("/regulator/enterprises?lang=en").get_data(as_text=True)
    assert _status_cell(english, "EXP-1")[2] == f"⚠ expired (valid until {ended})"
    from sqlmodel import select

    from ledger.model import Licence
    from ledger.store import transaction

    with transaction(app.extensions["ledger"].engine, write=False) as s:
        stored = s.exec(select(Licence).where(Licence.number == "EXP-1")).one()
        assert stored.status == "valid"  # the regulator's decision is left as it was


def test_a_licence_expires_at_the_citys_midnight_not_utcs(
    app: Any, demo: Any, as_person: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    regulator = as_person("regulator")
    _record_licence(regulator, demo, "MIDNIGHT-1", "2020-01-01", "2027-03-01")
    at = dt.datetime(2027, 3, 1, 17, 0, tzinfo=UTC)  # still 03-01 in UTC; 03-02 in Chongqing
    _clock(app, monkeypatch, "regulator_registry", lambda _rt: at)
    page = regulator.get("/regulator/enterprises").get_data(as_text=True)
    assert _status_cell(page, "MIDNIGHT-1")[1:] == ("expired", "⚠ 已过期（有效期至2027-03-01）")


def test_the_demos_lapsed_licences_read_expired(as_person: Any) -> None:
    page = as_person("regulator").get("/regulator/enterprises").get_data(as_text=True)
    assert "已过期（有效期至" in page  # enterprise C's, which ended 40 days ago
    assert "有效 ✗" not in page  # "valid", crossed out, read as valid


# --- 2. the reasons: one period, labelled; several reasons per block ------------------------


def _reasons_table(page: str) -> dict[str, int]:
    """The overview's table of blocked fills by reason: {name: count}."""
    table = re.search(r"<table[^>]*><thead><tr><th>原因</th>(.*?)</table>", page, re.S)
    assert table
    rows = re.findall(r"<a [^>]+>([^<]+)</a></td><td>(\d+)</td>", table.group(1))
    return {name: int(n) for name, n in rows}


def test_the_reasons_chart_and_table_cover_the_same_labelled_period(
    app: Any, client: Any, demo: Any, as_person: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    check(client, demo, register(client, demo, who="enterprise_b"), "a")  # NOT_OWNED
    regulator = as_person("regulator")

    def chart_and_table() -> tuple[dict[str, int], dict[str, int]]:
        data = regulator.get("/regulator/charts.json").json
        chart = {d["name"]: d["value"] for d in data["by_reason"]}
        return chart, _reasons_table(regulator.get("/regulator/").get_data(as_text=True))

    assert chart_and_table() == ({"非自有产权": 1}, {"非自有产权": 1})
    later = dt.timedelta(days=40)  # the block is now 40 days old: outside both
    _clock(app, monkeypatch, "regulator", lambda rt: rt.now() + later)
    assert chart_and_table() == ({}, {})
    data = regulator.get("/regulator/charts.json").json
    assert sum(data["series"]["fill_blocked"]) == 1  # the daily chart's 60 days still hold it
    assert data["by_reason_days"] == 30
    page = regulator.get("/regulator/").get_data(as_text=True)
    assert 'data-title="充装拦截原因（近30天）"' in page  # the donut says its period
    assert "<h2>充装拦截（近30天）</h2>" in page  # as the table does


def test_the_reasons_may_add_up_to_more_than_the_blocked_fills_and_the_page_says_so(
    client: Any, demo: Any, as_person: Any
) -> None:
    # A 2010 cylinder is past both its inspection and its service life: one block, two reasons.
    answer = check(client, demo, register(client, demo, manufactured_on="2010-01-01"), "a")
    assert len(answer.get_json()["reasons"]) == 2
    page = as_person("regulator").get("/regulator/").get_data(as_text=True)
    assert 'id="n-blocked">1<' in page and sum(_reasons_table(page).values()) == 2
    note = re.search(r'<p class="note" id="reasons-note">([^<]+)</p>', page)
    assert (
        note
        and note.group(1)
        == "一次充装拦截可能有多个原因，未登记气瓶码的扫码只计入该原因，"
        "所以各原因次数相加可能多于1次拦截。"
    )


def test_every_reason_in_the_chart_is_named_beside_its_colour(
    client: Any, demo: Any, live_server: str, desktop: Any
) -> None:
    from selenium.webdriver.common.by import By

    check(client, demo, register(client, demo, who="enterprise_b", manufactured_on="2010-01-01"))
    held = register(client, demo)
    assert event(client, demo, held, "regulator", "held", {"reason": "抽查"}).status_code == 201
    check(client, demo, held)
    scrapped = register(client, demo)
    assert event(client, demo, scrapped, "inspector", "scrapped", {}).status_code == 201
    check(client, demo, scrapped)
    twice = register(client, demo)
    fill(client, demo, twice)
    check(client, demo, twice)  # scanned again where it was just filled: already filled
    browser_login(desktop, live_server, demo, "regulator")
    until(desktop, lambda d: d.find_elements(By.CSS_SELECTOR, "#chart-daily[data-ready]"))
    table = _reasons_table(desktop.page_source)
    assert len(table) >= 6
    # Each name, with its count, is drawn as text inside the chart and not hidden (the
    # point at its middle shows that text, not a clip or a pager).
    seen = desktop.execute_script(
        """
        var box = document.getElementById("chart-reasons").getBoundingClientRect();
        return Array.from(document.querySelectorAll("#chart-reasons svg text")).filter(
          function (t) {
            var r = t.getBoundingClientRect(), x = r.left + r.width / 2, y = r.top + r.height / 2;
            var hit = document.elementFromPoint(x, y);
            return r.width > 0 && r.left >= box.left && r.right <= box.right
              && r.bottom <= box.bottom && hit !== null && (hit === t || t.contains(hit));
          }).map(function (t) { return t.textContent; });
        """
    )
    shot(desktop, "regulator-reasons-chart")
    for name, n in table.items():
        assert f"{name}  {n}" in seen, (name, seen)


# --- 3. scans of unregistered codes ---------------------------------------------------------


def test_the_unregistered_code_filter_lists_the_refused_scans(
    app: Any, client: Any, demo: Any, as_person: Any
) -> None:
    app.config["LIST_PAGE_SIZE"] = 2
    unknown = [codes.new_code() for _ in range(3)]
    for code in unknown:
        answer = check(client, demo, code, "a").get_json()
        assert [r["code"] for r in answer["reasons"]] == ["UNKNOWN_CODE"]
    check(client, demo, register(client, demo, who="enterprise_b"), "a")  # a blocked fill
    regulator = as_person("regulator")
    page = regulator.get("/regulator/blocked?reason=UNKNOWN_CODE").get_data(as_text=True)
    assert "未登记气瓶码的扫码" in page and "第 1–2 条，共 3 条" in page
    rows = re.findall(
        r"<tr><td>([^<]+)</td><td><code>(\w+)</code></td>\s*<td><a [^>]+>([^<]+)</a></td>"
        r"<td>([^<]+)</td></tr>",
        page,
    )
    assert [r[1] for r in rows] == unknown[:0:-1]  # newest first
    assert all(r[2] == "渝安龙溪充装站" and r[3] == "渝安龙溪充装站1号充装枪" for r in rows)
    assert "/regulator/trace" not in page.split('id="unknown-scans"')[1]  # no cylinder to trace
    second = regulator.get("/regulator/blocked?reason=UNKNOWN_CODE&page=2").get_data(as_text=True)
    assert unknown[0] in second and "第 3–3 条，共 3 条" in second
    elsewhere = f"/regulator/blocked?reason=UNKNOWN_CODE&station={demo['stations']['b']}"
    assert "共 3 条" not in regulator.get(elsewhere).get_data(as_text=True)
    text = regulator.get("/regulator/blocked.csv?reason=UNKNOWN_CODE").get_data(as_text=True)
    table = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert table[0] == ["checked_at", "code", "station_id", "station", "operator"]
    assert [r[1] for r in table[1:]] == unknown[::-1]
    assert unknown[0] not in regulator.get("/regulator/blocked").get_data(as_text=True)


# --- 4. the trace reads as words, and keeps what was signed -----------------------------------


def test_the_trace_names_each_recorded_value_and_keeps_the_signed_text(
    client: Any, demo: Any, as_person: Any
) -> None:
    code = register(client, demo, who="enterprise_b")
    fill(client, demo, code, station="b")  # gross 31.8, tare 16.8, net 15 (as signed)
    check(client, demo, code, "a")  # another enterprise's, just filled elsewhere: refused
    page = as_person("regulator").get(f"/regulator/trace?code={code}").get_data(as_text=True)
    pairs = re.findall(r"<div><dt>([^<]*)</dt><dd>([^<]*)</dd></div>", page)
    assert ("毛重", "31.8 kg") in pairs and ("净重", "15 kg") in pairs
    assert ("原因", "非自有产权、疑似克隆") in pairs and ("扫码内容", code) in pairs
    assert ("型号", "YSP35.5") in pairs and ("气液双相", "否") in pairs  # its registration
    assert "station_id" not in {name for name, _ in pairs}  # the station is named beside
    signed = re.findall(r'<code class="payload">([^<]*)</code>', page)
    assert len(signed) == 3 and html_lib.unescape(signed[1]).startswith('{"gross_kg":31.8,')
    assert page.count("记录原文（已签名）") == 3


def test_the_overview_counts_the_scans_of_unregistered_codes_under_their_reason(
    client: Any, demo: Any, as_person: Any
) -> None:
    for _ in range(2):
        check(client, demo, codes.new_code(), "a")  # no cylinder carries it: no event
    check(client, demo, register(client, demo, who="enterprise_b"), "a")  # one blocked fill
    regulator = as_person("regulator")
    page = regulator.get("/regulator/").get_data(as_text=True)
    table = _reasons_table(page)
    assert table["未登记"] == 2 and table["非自有产权"] == 1
    assert 'id="n-blocked">1<' in page  # the tile counts blocked fills, as its list does
    listed = regulator.get("/regulator/blocked?reason=UNKNOWN_CODE").get_data(as_text=True)
    assert '<small id="total">(2)</small>' in listed  # the row's count is its list's
    chart = regulator.get("/regulator/charts.json").get_json()["by_reason"]
    assert {"name": "未登记", "value": 2} in chart
