"""People's logins: passwords, roles, expired sessions, CSRF, the language."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.pages.conftest import csrf_of


def _login(client: Any, who: str, password: str) -> Any:
    page = client.get("/login").get_data(as_text=True)
    return client.post(
        "/login", data={"csrf_token": csrf_of(page), "login": who, "password": password}
    )


def test_a_wrong_password_is_refused_in_chinese(client: Any, demo: Any) -> None:
    resp = _login(client, "regulator", "not-the-password")
    assert resp.status_code == 401
    assert "登录名或密码错误" in resp.get_data(as_text=True)
    assert client.get("/regulator/").status_code == 302  # still logged out


def test_an_unknown_login_gets_the_same_answer(client: Any) -> None:
    resp = _login(client, "nobody", "whatever-password")
    assert resp.status_code == 401 and "登录名或密码错误" in resp.get_data(as_text=True)


def test_each_role_lands_on_its_page(client: Any, demo: Any) -> None:
    for who, page in (
        ("regulator", "/regulator/"),
        ("station_a", "/station/"),
        ("driver_a", "/driver/"),
    ):
        resp = _login(client, who, demo["passwords"][who])
        assert resp.status_code == 302 and resp.location == page
        assert client.get(page).status_code == 200
        logout = client.post(
            "/logout", data={"csrf_token": csrf_of(client.get(page).get_data(as_text=True))}
        )
        assert logout.status_code == 302


def test_the_bare_address_leads_to_the_login_and_a_signed_in_person_to_their_page(
    client: Any, demo: Any
) -> None:
    resp = client.get("/")
    assert resp.status_code == 302 and resp.location == "/login"
    assert "登录" in client.get("/", follow_redirects=True).get_data(as_text=True)
    _login(client, "station_a", demo["passwords"]["station_a"])
    resp = client.get("/", follow_redirects=True)
    assert resp.status_code == 200 and resp.request.path == "/station/"


def test_a_page_of_another_role_is_forbidden(as_person: Any) -> None:
    driver = as_person("driver_a")
    resp = driver.get("/regulator/")
    assert resp.status_code == 403 and "无权" in resp.get_data(as_text=True)


def test_a_page_needs_a_login(client: Any) -> None:
    resp = client.get("/station/")
    assert resp.status_code == 302 and resp.location.startswith("/login?next=")
    assert "请先登录" in client.get(resp.location).get_data(as_text=True)


def test_an_expired_session_goes_back_to_login_with_a_message(as_person: Any) -> None:
    client = as_person("regulator")
    with client.session_transaction() as session:
        stale = dt.datetime.now(dt.UTC) - dt.timedelta(hours=5)
        session["seen_at"] = stale.isoformat()
    resp = client.get("/regulator/")
    assert resp.status_code == 302 and resp.location.startswith("/login")
    assert "登录已过期" in client.get(resp.location).get_data(as_text=True)
    assert client.get("/regulator/").status_code == 302  # really logged out


def test_a_login_form_without_csrf_is_refused(client: Any, demo: Any) -> None:
    resp = client.post(
        "/login", data={"login": "regulator", "password": demo["passwords"]["regulator"]}
    )
    assert resp.status_code == 400
    assert "表单已失效" in resp.get_data(as_text=True)


def test_the_api_keeps_bearer_tokens_without_csrf(client: Any, demo: Any) -> None:
    resp = client.post(
        "/api/v1/customers",
        json={"name": "x", "kind": "household", "address": "y", "basement": False},
        headers={"Authorization": f"Bearer {demo['tokens']['enterprise_a']}"},
    )
    assert resp.status_code == 201


@pytest.mark.parametrize("elsewhere", ["https://evil.example/", "//["])  # "//[": no address
def test_a_next_url_elsewhere_is_ignored(client: Any, demo: Any, elsewhere: str) -> None:
    page = client.get(f"/login?next={elsewhere}").get_data(as_text=True)
    resp = client.post(
        "/login",
        data={
            "csrf_token": csrf_of(page),
            "login": "regulator",
            "password": demo["passwords"]["regulator"],
            "next": elsewhere,
        },
    )
    assert resp.status_code == 302 and resp.location == "/regulator/"


def test_a_password_changed_from_the_command_line_replaces_the_old(
    client: Any, demo: Any, runner: Any
) -> None:
    from sqlalchemy import select

    from app.runtime import runtime
    from ledger.model import Actor
    from ledger.store import transaction

    with client.application.app_context(), transaction(runtime().engine) as session:
        actor_id = session.execute(select(Actor.id).where(Actor.role == "inspector")).scalar_one()
    result = runner.invoke(
        args=["people", "set-password", "inspector", "--actor", str(actor_id)],
        input="a long password 1\na long password 1\n",
    )
    assert result.exit_code == 0, result.output
    assert _login(client, "inspector", demo["passwords"]["inspector"]).status_code == 401
    assert _login(client, "inspector", "a long password 1").status_code == 302
    short = runner.invoke(
        args=["people", "set-password", "inspector", "--actor", str(actor_id)],
        input="short\nshort\n",
    )
    assert short.exit_code == 1 and "至少10个字符" in short.output


def _idle(client: Any) -> None:
    with client.session_transaction() as session:
        stale = dt.datetime.now(dt.UTC) - dt.timedelta(hours=5)
        session["seen_at"] = stale.isoformat()


def test_a_form_sent_after_the_session_expired_goes_back_to_its_page(
    client: Any, demo: Any, as_person: Any
) -> None:
    from tests.flows import history, register

    code = register(client, demo)
    station = as_person("station_a")
    page = station.get("/station/").get_data(as_text=True)
    allowed = station.post(
        "/station/check", data={"csrf_token": csrf_of(page), "token": "k" * 24, "scan": code}
    ).get_data(as_text=True)
    _idle(station)
    resp = station.post(
        "/station/fill",
        data={"csrf_token": csrf_of(allowed), "token": "f" * 24, "code": code, "gross_kg": "31"},
        headers={"Referer": "http://localhost/station/check"},  # a POST-only address
    )
    assert resp.status_code == 302 and resp.location == "/login?next=/station/"
    login_page = station.get(resp.location).get_data(as_text=True)
    assert "登录已过期，请重新登录后再提交" in login_page
    assert not [e for e in history(client, demo, code) if e["type"] == "filled"]
    back = station.post(
        "/login",
        data={
            "csrf_token": csrf_of(login_page),
            "login": "station_a",
            "password": demo["passwords"]["station_a"],
            "next": "/station/",
        },
    )
    assert back.location == "/station/" and station.get(back.location).status_code == 200


def test_a_form_sent_without_a_session_never_leads_to_a_post_only_address(
    client: Any, as_person: Any
) -> None:
    regulator = as_person("regulator")
    page = regulator.get("/regulator/enterprises").get_data(as_text=True)
    _idle(regulator)
    resp = regulator.post(
        "/regulator/enterprises/1/blacklist",
        data={"csrf_token": csrf_of(page), "action": "add", "reason": "x"},
        headers={"Referer": "http://localhost/regulator/enterprises"},
    )
    assert resp.location == "/login?next=/regulator/enterprises"
    # No Referer (a privacy setting): the section's start page, never the POST address.
    page = client.get("/login").get_data(as_text=True)
    fresh = client.post("/driver/customers", data={"csrf_token": csrf_of(page)})
    assert fresh.status_code == 302 and fresh.location == "/login?next=/driver/"
    assert "登录已过期" in client.get(fresh.location).get_data(as_text=True)


def test_an_expired_session_on_a_public_page_just_logs_out(
    client: Any, demo: Any, as_person: Any
) -> None:
    from tests.flows import register

    code = register(client, demo)
    regulator = as_person("regulator")
    _idle(regulator)
    assert regulator.get(f"/c/{code}").status_code == 200
    assert regulator.get("/regulator/").status_code == 302  # logged out all the same


def test_a_login_renamed_from_the_command_line_and_a_name_already_taken(
    client: Any, demo: Any, runner: Any
) -> None:
    from sqlalchemy import select

    from app.runtime import runtime
    from ledger.model import Actor
    from ledger.store import transaction

    with client.application.app_context(), transaction(runtime().engine) as session:
        actor_id = session.execute(select(Actor.id).where(Actor.role == "inspector")).scalar_one()
    password = "a long password 2\na long password 2\n"
    taken = runner.invoke(
        args=["people", "set-password", "regulator", "--actor", str(actor_id)], input=password
    )
    assert taken.exit_code == 1 and "已被使用" in taken.output  # another person's name
    fresh = client.application.test_client
    assert _login(fresh(), "regulator", demo["passwords"]["regulator"]).status_code == 302
    renamed = runner.invoke(
        args=["people", "set-password", "inspector-2", "--actor", str(actor_id)], input=password
    )
    assert renamed.exit_code == 0 and "login inspector-2 → actor" in renamed.output
    assert _login(fresh(), "inspector", "a long password 2").status_code == 401  # the old name
    assert _login(fresh(), "inspector-2", "a long password 2").status_code == 302
