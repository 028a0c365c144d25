"""Rate limits on public, report and login; security headers; 413 for oversized bodies."""

from __future__ import annotations

import re
import uuid
from typing import Any

from app.security import CSP
from tests import flows
from tests.conftest import bearer


def test_the_public_page_is_limited_per_address_with_a_chinese_page(limited_app: Any) -> None:
    client = limited_app.test_client()
    answers = [client.get("/c/NOSUCHCODE").status_code for _ in range(6)]
    assert answers == [404] * 5 + [429]
    page = client.get("/c/NOSUCHCODE")
    assert page.status_code == 429 and "请求过于频繁" in page.get_data(as_text=True)
    assert 0 < int(page.headers["Retry-After"]) <= 61  # the minute's window (rounded up)
    other = limited_app.test_client()
    away = other.get("/c/NOSUCHCODE", environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert away.status_code == 404  # another address has its own budget


def test_public_api_reads_are_limited_as_problem_json_but_tokens_are_not(limited_app: Any) -> None:
    client = limited_app.test_client()
    token = bearer(limited_app.config["DEMO"]["tokens"]["regulator"])
    for _ in range(5):
        client.get("/api/v1/ledger/checkpoint")
    resp = client.get("/api/v1/ledger/checkpoint")
    assert resp.status_code == 429
    assert resp.content_type == "application/problem+json"
    assert resp.get_json()["status"] == 429 and resp.headers["Retry-After"]
    assert client.get("/api/v1/ledger/checkpoint", headers=token).status_code == 200
    junk = {"Authorization": "Bearer not-a-token"}  # a made-up token does not lift the limit
    assert client.get("/api/v1/ledger/checkpoint", headers=junk).status_code == 429


def test_login_attempts_are_limited(limited_app: Any) -> None:
    client = limited_app.test_client()
    form = {"login": "regulator", "password": "wrong-password"}
    answers = [client.post("/login", data=form).status_code for _ in range(4)]
    assert answers == [401, 401, 401, 429]
    assert client.get("/login").status_code == 200  # the form itself stays reachable


def test_public_reports_are_limited(limited_app: Any) -> None:
    client = limited_app.test_client()
    answers = [
        client.post(f"/c/NOSUCH{i}/report", data={"kind": "other", "token": f"t{i}"}).status_code
        for i in range(3)
    ]
    assert answers[-1] == 429 and 429 not in answers[:2]
    refused = client.post("/c/NOSUCH9/report", data={"kind": "other", "token": "t9"})
    assert 61 < int(refused.headers["Retry-After"]) <= 3601  # the hour's window, not 60


def test_pages_and_api_carry_the_security_headers(client: Any, demo: Any) -> None:
    for path in ("/login", "/c/NOSUCHCODE", "/api/v1/ledger/checkpoint", "/api/v1/openapi.json"):
        resp = client.get(path)
        assert resp.headers["Content-Security-Policy"] == CSP, path
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert "Strict-Transport-Security" not in resp.headers  # plain HTTP: no HSTS
    assert "'unsafe-inline'" not in CSP.split("script-src")[1].split(";")[0]


def test_hsts_only_over_tls(client: Any) -> None:
    resp = client.get("/login", base_url="https://ledger.test")
    assert resp.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_hsts_behind_a_trusted_tls_proxy(limited_app: Any) -> None:
    from app import create_app

    app = create_app({**limited_app.config, "PROXY_HOPS": 1})
    proxied = app.test_client().get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" in proxied.headers
    direct = limited_app.test_client().get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in direct.headers  # an untrusted header is ignored
    app.extensions["ledger"].engine.dispose()


def test_the_docs_page_allows_only_its_own_inline_scripts_by_hash(client: Any) -> None:
    resp = client.get("/api/v1/docs")
    policy = resp.headers["Content-Security-Policy"]
    script_src = policy.split("script-src")[1].split(";")[0]
    assert "'sha256-" in script_src and "'unsafe-inline'" not in script_src


def test_no_page_template_has_an_executable_inline_script(client: Any, demo: Any) -> None:
    import re
    from pathlib import Path

    templates = Path(__file__).resolve().parents[2] / "app" / "templates"
    for path in templates.rglob("*.html"):
        text = path.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag or 'type="application/json"' in tag, (path, tag)
        assert not re.search(r"\son[a-z]+=", text), path  # no inline event handlers


def test_oversized_bodies_are_413_on_the_api_and_the_pages(client: Any, demo: Any) -> None:
    big = "x" * 300_000
    api = client.post(
        "/api/v1/customers",
        data=big,
        content_type="application/json",
        headers=bearer(demo["tokens"]["enterprise_a"]),
    )
    assert api.status_code == 413 and api.content_type == "application/problem+json"
    page = client.post("/c/NOSUCH/report", data={"kind": "other", "note": big})
    assert page.status_code == 413
    code = flows.register(client, demo)
    assert client.get(f"/c/{code}").status_code == 200


def test_an_ipv6_sender_is_counted_by_its_64_whatever_address_it_rotates_to(
    limited_app: Any,
) -> None:
    client = limited_app.test_client()
    answers = [
        client.get(
            "/c/NOSUCHCODE", environ_base={"REMOTE_ADDR": f"2001:db8:5:6:{i:x}::{i + 1:x}"}
        ).status_code
        for i in range(6)
    ]
    assert answers == [404] * 5 + [429]  # six addresses, one /64: one budget
    other = client.get("/c/NOSUCHCODE", environ_base={"REMOTE_ADDR": "2001:db8:5:7::1"})
    assert other.status_code == 404  # the next /64 is someone else


def test_the_report_count_per_sender_takes_an_ipv6_sender_by_its_64(client: Any, demo: Any) -> None:
    code = flows.register(client, demo)
    answers = []
    for i in range(6):
        env = {"REMOTE_ADDR": f"2001:db8:9:9::{i + 1:x}"}
        page = client.get(f"/c/{code}", environ_base=env).get_data(as_text=True)
        token = re.search(r'name="token" value="([^"]+)"', page)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token and csrf
        form = {"csrf_token": csrf.group(1), "token": token.group(1), "kind": "other"}
        answers.append(client.post(f"/c/{code}/report", data=form, environ_base=env).status_code)
    assert answers == [302] * 5 + [429]
    page = client.post(f"/c/{code}/report", data=form, environ_base=env)
    assert page.status_code == 429 and page.headers["Retry-After"] == "3600"  # its own count


def test_a_report_the_limiter_refuses_comes_back_with_what_was_typed(limited_app: Any) -> None:
    code = flows.register(limited_app.test_client(), limited_app.config["DEMO"])
    client = limited_app.test_client()
    note = "三楼后厨钢瓶阀门漏气，闻到很重的气味"
    forms = [{"kind": "leak", "note": f"{note}{i}", "token": uuid.uuid4().hex} for i in range(3)]
    answers = [client.post(f"/c/{code}/report", data=form) for form in forms]
    assert [a.status_code for a in answers[:2]] == [302, 302]
    refused = answers[2]
    assert refused.status_code == 429 and refused.headers["Retry-After"]
    page = refused.get_data(as_text=True)
    assert f"{note}2" in page  # the note typed is in the form again, not lost
    assert "过于频繁" in page
