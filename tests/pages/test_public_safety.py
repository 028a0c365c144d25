"""/c/{code}: what a scanning person must be told for safety (a leak, a dual-phase
cylinder) and a report form that never files an accusation by default."""

from __future__ import annotations

import re
from typing import Any

from ledger.codes import new_code
from tests.flows import event, fill, register
from tests.pages.conftest import public_report

LEAK_STEPS = ("立即关闭气瓶角阀", "打开门窗通风", "不要开关电灯、电器", "119", "供气企业")
DUAL_PHASE = "气液双相气瓶：餐饮等经营场所不得使用"


def _page(client: Any, url: str) -> tuple[int, str]:
    resp = client.get(url)
    return resp.status_code, resp.get_data(as_text=True)


def _report(client: Any, code: str, html: str, kind: str) -> Any:
    return public_report(client, code, html, kind, "后厨有异味")


def _options(html: str) -> list[str]:
    select = re.search(r'<select name="kind"[^>]*>(.*?)</select>', html, re.S)
    assert select, "no report kind select on the page"
    return re.findall(r"<option[^>]*>[^<]*</option>", select.group(1))


def _box(html: str, box_id: str, tag: str = "section") -> str:
    found = re.search(rf'<{tag}[^>]*id="{box_id}"[^>]*>(.*?)</{tag}>', html, re.S)
    assert found, f"no {box_id} on the page"
    return found.group(0)


def test_the_report_kind_starts_empty_so_the_browser_requires_a_choice(
    client: Any, demo: Any
) -> None:
    code = register(client, demo)
    _status, html = _page(client, f"/c/{code}")
    options = _options(html)
    assert options[0] == '<option value="" selected>请选择举报类型</option>'
    assert all(" selected" not in o for o in options[1:])  # no accusation by default
    assert re.search(r'<select name="kind"[^>]*required', html)
    _status, html = _page(client, f"/c/{code}?lang=en")
    assert _options(html)[0] == '<option value="" selected>Choose what to report</option>'


def test_a_report_without_a_kind_is_refused_records_nothing_and_keeps_the_note(
    client: Any, demo: Any, as_person: Any
) -> None:
    code = register(client, demo)
    _status, html = _page(client, f"/c/{code}")
    resp = _report(client, code, html, kind="")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "请选择问题类型" in page and "后厨有异味" in page
    assert _options(page)[0] == '<option value="" selected>请选择举报类型</option>'
    queue = as_person("regulator").get("/regulator/reports").get_data(as_text=True)
    assert f">{code}</a>" not in queue


def test_the_report_form_tells_what_to_do_on_smelling_gas(client: Any, demo: Any) -> None:
    code = register(client, demo)
    _status, html = _page(client, f"/c/{code}")
    form = _box(html, "report")
    advice = _box(html, "gas-leak-advice", "aside")
    assert advice in form and form.index("report-kind") < form.index(advice)
    assert "闻到燃气味" in advice and all(step in advice for step in LEAK_STEPS)
    assert 'id="gas-leak-now"' not in html  # the urgent box only after a leak report
    _status, html = _page(client, f"/c/{code}?lang=en")
    advice = _box(html, "gas-leak-advice", "aside")
    assert "Smell gas?" in advice and "Close the cylinder valve" in advice and "119" in advice


def test_a_leak_report_answers_with_the_safety_advice_before_anything_else(
    client: Any, demo: Any
) -> None:
    code = register(client, demo)
    fill(client, demo, code)
    _status, html = _page(client, f"/c/{code}")
    resp = _report(client, code, html, kind="leak")
    assert resp.status_code == 302
    _status, page = _page(client, resp.location)
    now = _box(page, "gas-leak-now", "aside")
    assert 'role="alert"' in now and all(step in now for step in LEAK_STEPS)
    first = page.index("立即关闭气瓶角阀")
    assert first < page.index("已提交") and first < page.index("可以使用")
    assert 'class="flash' not in page  # nothing above it: the thanks is inside the box
    assert "已提交" in now


def test_a_leak_report_on_an_unregistered_code_also_gets_the_advice_first(
    client: Any,
) -> None:
    code = new_code()
    status, html = _page(client, f"/c/{code}")
    assert status == 404 and _box(html, "gas-leak-advice", "aside")
    resp = _report(client, code, html, kind="leak")
    assert resp.status_code == 302
    status, page = _page(client, resp.location)
    assert status == 404
    assert page.index('id="gas-leak-now"') < page.index("未登记的气瓶码")


def test_another_report_gets_no_urgent_leak_box(client: Any, demo: Any) -> None:
    code = register(client, demo)
    _status, html = _page(client, f"/c/{code}")
    resp = _report(client, code, html, kind="damaged")
    _status, page = _page(client, resp.location)
    assert "已提交" in page and 'id="gas-leak-now"' not in page


def test_a_dual_phase_cylinder_warns_that_catering_places_may_not_use_it(
    client: Any, demo: Any
) -> None:
    code = register(client, demo, dual_phase=True)
    assert fill(client, demo, code).status_code == 201
    _status, html = _page(client, f"/c/{code}")
    warning = _box(html, "dual-phase")
    assert DUAL_PHASE in warning and "气液双相气瓶不得配送至餐饮或食堂用户" in warning
    assert "ok" not in re.search(r'class="([^"]*)"', warning).group(1)  # type: ignore[union-attr]
    assert warning not in _box(html, "verdict")  # not inside the green box
    assert "可以使用" in html  # otherwise truthful: it may be used elsewhere
    _status, html = _page(client, f"/c/{code}?lang=en")
    assert "not for use in restaurants" in _box(html, "dual-phase")


def test_a_single_phase_cylinder_has_no_dual_phase_warning(client: Any, demo: Any) -> None:
    code = register(client, demo)
    fill(client, demo, code)
    _status, html = _page(client, f"/c/{code}")
    assert 'id="dual-phase"' not in html and "餐饮等经营场所不得使用" not in html


def test_a_scrapped_cylinder_shows_no_next_inspection_to_wait_for(client: Any, demo: Any) -> None:
    code = register(client, demo)
    _, before = _page(client, f"/c/{code}")
    assert re.search(r'id="next-inspection">\d{4}-\d{2}-\d{2}<', before)
    assert event(client, demo, code, "inspector", "scrapped", {}).status_code == 201
    _, after = _page(client, f"/c/{code}")
    assert '<dd id="next-inspection">无（已永久停用）</dd>' in after and "已报废" in after


def test_only_the_visitor_who_sent_a_leak_report_is_told_it_was_sent(
    client: Any, demo: Any, app: Any
) -> None:
    code = register(client, demo)
    _status, html = _page(client, f"/c/{code}")
    crafted = app.test_client()  # a link with the old page's query: no report was sent
    _status, page = _page(crafted, f"/c/{code}?reported=1&advice=leak")
    assert 'id="gas-leak-now"' not in page and "已提交" not in page
    first = _report(client, code, html, kind="leak")
    _status, page = _page(client, first.location)
    assert "已提交" in _box(page, "gas-leak-now", "aside")
    again = _report(client, code, html, kind="leak")  # the same form sent twice
    _status, page = _page(client, again.location)
    assert "未重复提交" in _box(page, "gas-leak-now", "aside")
    _status, page = _page(client, again.location)  # a reload: the answer was given
    assert 'id="gas-leak-now"' not in page and 'id="gas-leak-advice"' in page
