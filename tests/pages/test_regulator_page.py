"""/regulator: trace with proofs, lists and CSV, EPCIS, enterprises and licences, reports."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from typing import Any

from tests.flows import check, event, fill, history, register
from tests.pages.conftest import csrf_of


def test_trace_shows_the_timeline_chain_and_inclusion_proof(
    client: Any, demo: Any, as_person: Any
) -> None:
    code = register(client, demo)
    fill(client, demo, code)
    client.get("/api/v1/ledger/checkpoint")
    regulator = as_person("regulator")
    regulator.post(
        "/regulator/audit",
        data={"csrf_token": csrf_of(regulator.get("/regulator/").get_data(as_text=True))},
    )
    html = regulator.get(f"/regulator/trace?code={code}").get_data(as_text=True)
    assert "哈希链验证通过" in html
    assert "赋码建档" in html and "充装" in html
    assert 'id="proof" class="good"' in html or 'id="proof" class="wait"' in html


def test_the_newest_checkpoint_proves_the_last_event(
    client: Any, demo: Any, as_person: Any, runner: Any
) -> None:
    code = register(client, demo)
    assert runner.invoke(args=["ledger", "checkpoint"]).exit_code == 0
    html = as_person("regulator").get(f"/regulator/trace?code={code}").get_data(as_text=True)
    assert 'id="proof" class="good"' in html and "✓ 最新事件已包含在最新检查点中" in html


def test_a_long_life_shows_its_latest_events_and_every_one_on_request(
    client: Any, demo: Any, as_person: Any, monkeypatch: Any
) -> None:
    import app.pages.regulator as regulator_pages

    monkeypatch.setattr(regulator_pages, "TRACE_LATEST", 3)
    code = register(client, demo)
    for _ in range(2):  # registered, then held and released twice: 5 events
        for kind, payload in (("held", {"reason": "抽查"}), ("released", {})):
            assert event(client, demo, code, "regulator", kind, payload).status_code == 201
    regulator = as_person("regulator")
    html = regulator.get(f"/regulator/trace?code={code}").get_data(as_text=True)
    seqs = re.findall(r'<code class="hash" title="[0-9a-f]+">#(\d+) ', html)
    assert seqs == ["3", "4", "5"] and '<ol class="timeline" start="3">' in html
    assert "共 5 条事件，显示最近 3 条" in html and "哈希链验证通过" in html
    link = re.search(r'<p id="trace-latest">.*?<a href="([^"]+)"', html, re.S)
    assert link is not None and "显示全部事件" in html
    whole = regulator.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert re.findall(r'<code class="hash" title="[0-9a-f]+">#(\d+) ', whole) == list("12345")
    assert 'id="trace-latest"' not in whole and "哈希链验证通过" in whole


def test_an_unknown_code_on_trace_is_a_clear_404(as_person: Any) -> None:
    resp = as_person("regulator").get("/regulator/trace?code=NOPE0000")
    assert resp.status_code == 404 and "没有气瓶使用代码" in resp.get_data(as_text=True)


def test_blocked_fills_feed_and_csv(client: Any, demo: Any, as_person: Any) -> None:
    code = register(client, demo, who="enterprise_b")
    check(client, demo, code, "a")
    regulator = as_person("regulator")
    html = regulator.get("/regulator/blocked?reason=NOT_OWNED").get_data(as_text=True)
    assert code in html and "非自有产权" in html  # the reason by its Chinese name
    assert code not in regulator.get("/regulator/blocked?reason=SCRAPPED").get_data(as_text=True)
    resp = regulator.get("/regulator/blocked.csv")
    assert resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(resp.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["occurred_at", "code", "station_id", "station", "reasons"]
    assert any(r[1] == code and "NOT_OWNED" in r[4] for r in rows[1:])
    at = dt.datetime.fromisoformat(next(r[0] for r in rows[1:] if r[1] == code))
    assert at.utcoffset() == dt.timedelta(hours=8)  # Beijing time, as the pages show it
    assert abs(at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)


def test_overdue_and_short_weight_lists(client: Any, demo: Any, as_person: Any) -> None:
    old = register(client, demo, manufactured_on="2010-01-01")
    light = register(client, demo)
    fill(client, demo, light, net=12.0)
    regulator = as_person("regulator")
    assert old in regulator.get("/regulator/cylinders/overdue").get_data(as_text=True)
    assert light not in regulator.get("/regulator/cylinders/overdue").get_data(as_text=True)
    short = regulator.get("/regulator/cylinders/short-weight.csv").get_data(as_text=True)
    assert light in short and short.lstrip("\ufeff").startswith("occurred_at,code,station,net_kg")
    assert regulator.get("/regulator/cylinders/stale?days=1").status_code == 200
    assert regulator.get("/regulator/cylinders/nonsense").status_code == 404


def test_epcis_export(client: Any, demo: Any, as_person: Any) -> None:
    code = register(client, demo)
    fill(client, demo, code)
    resp = as_person("regulator").get(f"/regulator/trace/{code}/epcis.jsonld")
    assert resp.mimetype == "application/ld+json"
    doc = resp.get_json(force=True)
    assert doc["type"] == "EPCISDocument" and doc["schemaVersion"] == "2.0"
    assert doc["@context"][0] == "https://ref.gs1.org/standards/epcis/epcis-context.jsonld"
    steps = [e["bizStep"] for e in doc["epcisBody"]["eventList"]]
    # CBV 2.0 has no filling step: the ledger's own vocabulary, as a full URI.
    assert steps == ["commissioning", "https://ledger.test/voc/bizstep/filling"]
    assert all(e["type"] == "ObjectEvent" for e in doc["epcisBody"]["eventList"])


def test_revoking_a_licence_blocks_the_station(client: Any, demo: Any, as_person: Any) -> None:
    code = register(client, demo)
    regulator = as_person("regulator")
    page = regulator.get("/regulator/enterprises").get_data(as_text=True)
    licence = re.search(r'id="lic(\d+)".{0,400}?TS4250A01', page, re.S)
    assert licence, "station A's filling licence is listed"
    resp = regulator.post(
        f"/regulator/licences/{licence.group(1)}",
        data={"csrf_token": csrf_of(page), "action": "revoke"},
    )
    assert resp.status_code == 302
    assert "许可证状态已更新" in regulator.get(resp.location).get_data(as_text=True)
    answer = check(client, demo, code, "a").get_json()
    assert not answer["allowed"] and "STATION_NOT_LICENSED" in [
        r["code"] for r in answer["reasons"]
    ]


def test_blacklisting_an_enterprise(client: Any, demo: Any, as_person: Any) -> None:
    code = register(client, demo)
    regulator = as_person("regulator")
    page = regulator.get("/regulator/enterprises").get_data(as_text=True)
    ent = demo["enterprises"]["a"]
    resp = regulator.post(
        f"/regulator/enterprises/{ent}/blacklist",
        data={"csrf_token": csrf_of(page), "action": "add", "reason": "无证经营"},
    )
    assert resp.status_code == 302
    assert "禁止使用" in client.get(f"/c/{code}").get_data(as_text=True)


def test_a_double_submitted_enterprise_is_registered_once(as_person: Any) -> None:
    regulator = as_person("regulator")
    page = regulator.get("/regulator/enterprises").get_data(as_text=True)
    once = re.search(r'name="once" value="([^"]+)"', page).group(1)
    form = {
        "csrf_token": csrf_of(page),
        "once": once,
        "name": "重庆新气源有限公司",
        "gs1_prefix": "6901234",
    }
    regulator.post("/regulator/enterprises", data=form)
    second = regulator.post("/regulator/enterprises", data=form)
    assert "未重复记录" in regulator.get(second.location).get_data(as_text=True)
    assert (
        regulator.get("/regulator/enterprises").get_data(as_text=True).count("重庆新气源有限公司")
        == 1
    )


def test_holding_a_cylinder_from_a_public_report(client: Any, demo: Any, as_person: Any) -> None:
    code = register(client, demo)
    page = client.get(f"/c/{code}").get_data(as_text=True)
    token = re.search(r'name="token" value="([^"]+)"', page).group(1)
    client.post(
        f"/c/{code}/report",
        data={"csrf_token": csrf_of(page), "token": token, "kind": "suspected_fake", "note": ""},
    )
    regulator = as_person("regulator")
    queue = regulator.get("/regulator/reports").get_data(as_text=True)
    report_id = re.search(r'id="report-(\d+)"', queue).group(1)
    resp = regulator.post(
        f"/regulator/reports/{report_id}",
        data={"csrf_token": csrf_of(queue), "action": "hold", "note": "核查"},
    )
    assert resp.status_code == 302
    assert [e["type"] for e in history(client, demo, code)][-1] == "held"
    assert f'id="report-{report_id}"' not in regulator.get("/regulator/reports").get_data(
        as_text=True
    )
    closed = regulator.get("/regulator/reports?status=reviewed").get_data(as_text=True)
    assert f'id="report-{report_id}"' in closed


def test_the_overview_counts_and_charts(client: Any, demo: Any, as_person: Any) -> None:
    code = register(client, demo)
    fill(client, demo, code)
    event(client, demo, code, "regulator", "held", {"reason": "x"})
    regulator = as_person("regulator")
    assert regulator.get("/regulator/").status_code == 200
    data = regulator.get("/regulator/charts.json").get_json()
    assert sum(data["series"]["filled"]) == 1 and len(data["days"]) == 60
