"""/c/{code}: the public verdict, the counterfeit warning, and reports that hold nothing."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from tests.conftest import bearer
from tests.flows import event, fill, history, register
from tests.pages.conftest import public_report


def _page(client: Any, url: str) -> tuple[int, str]:
    resp = client.get(url)
    return resp.status_code, resp.get_data(as_text=True)


def test_a_legal_cylinder_is_safe_to_use_in_chinese_by_default(client: Any, demo: Any) -> None:
    code = register(client, demo)
    fill(client, demo, code)
    status, html = _page(client, f"/c/{code}")
    assert status == 200
    assert "可以使用" in html and "重庆渝安燃气有限公司" in html
    assert "渝安龙溪充装站" in html  # last filled where
    assert "燃气经营许可证" in html and "有效" in html
    assert 'lang="zh-CN"' in html


def test_english_on_request(client: Any, demo: Any) -> None:
    code = register(client, demo)
    _status, html = _page(client, f"/c/{code}?lang=en")
    assert "Safe to use" in html and "可以使用" not in html


def test_an_overdue_cylinder_says_do_not_use_with_its_reason(client: Any, demo: Any) -> None:
    code = register(client, demo, manufactured_on="2010-01-01")
    status, html = _page(client, f"/c/{code}")
    assert status == 200
    assert "禁止使用" in html
    assert "超出设计使用年限" in html or "超期未检" in html


def test_a_forged_signature_shows_the_counterfeit_warning(client: Any, demo: Any) -> None:
    resp = client.get(f"/api/v1/cylinders/{register(client, demo)}")
    parts = urlsplit(resp.get_json()["qr"])
    genuine = f"{parts.path}?{parts.query}"
    _status, html = _page(client, genuine)
    assert 'id="forged"' not in html and "可以使用" in html
    _status, html = _page(client, parts.path + "?s=" + "A" * 86)
    assert 'id="forged"' in html and "假冒警告" in html and "禁止使用" in html


def test_an_unknown_code_is_a_clear_404(client: Any) -> None:
    status, html = _page(client, "/c/NOSUCHCODE1")
    assert status == 404
    assert "未登记的气瓶码" in html


def test_no_personal_data_on_the_page(client: Any, demo: Any) -> None:
    code = register(client, demo)
    fill(client, demo, code)
    _status, html = _page(client, f"/c/{code}")
    for personal in ("老火锅", "渝北区龙溪街道1号", "1号充装枪", "管理员", "张师傅"):
        assert personal not in html


def _report(client: Any, code: str, html: str, kind: str = "suspected_fake") -> Any:
    return public_report(client, code, html, kind, "标签模糊")


def test_a_report_reaches_the_regulator_once_and_holds_nothing(
    client: Any, demo: Any, as_person: Any
) -> None:
    code = register(client, demo)
    before = history(client, demo, code)
    _status, html = _page(client, f"/c/{code}")
    first = _report(client, code, html)
    assert first.status_code == 302
    assert "已提交" in _page(client, first.location)[1]
    again = _report(client, code, html)  # the same form submitted twice
    assert again.status_code == 302
    assert "未重复提交" in _page(client, again.location)[1]
    assert history(client, demo, code) == before  # no event, no hold
    state = client.get(f"/api/v1/cylinders/{code}", headers=bearer(demo["tokens"]["regulator"]))
    assert state.get_json()["held"] is None
    regulator = as_person("regulator")
    queue = regulator.get("/regulator/reports").get_data(as_text=True)
    assert queue.count(f">{code}</a>") == 1 and "标签模糊" in queue


def test_reports_are_rate_limited_per_sender(client: Any, demo: Any) -> None:
    code = register(client, demo)
    statuses, last = [], None
    for _ in range(6):
        _status, html = _page(client, f"/c/{code}")
        last = _report(client, code, html)
        statuses.append(last.status_code)
    assert statuses == [302] * 5 + [429]
    page = last.get_data(as_text=True)  # the form again, with what was typed: not lost
    assert "举报过于频繁，请稍后再试。" in page
    assert "标签模糊" in page


def test_a_report_without_csrf_is_refused(client: Any, demo: Any) -> None:
    code = register(client, demo)
    resp = client.post(f"/c/{code}/report", data={"token": "x" * 32, "kind": "other"})
    assert resp.status_code == 400
    assert "表单已失效" in resp.get_data(as_text=True)


def test_a_held_cylinder_reads_do_not_use(client: Any, demo: Any) -> None:
    code = register(client, demo)
    resp = event(client, demo, code, "regulator", "held", {"reason": "涉嫌盗窃"})
    assert resp.status_code == 201, resp.get_json()
    _status, html = _page(client, f"/c/{code}")
    assert "禁止使用" in html and "监管扣押" in html
    assert "涉嫌盗窃" not in html  # the regulator's own words stay off the public page
    _status, html = _page(client, f"/c/{code}?lang=en")
    assert "held by the regulator" in html and "涉嫌盗窃" not in html
