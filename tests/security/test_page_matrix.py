"""Every state-changing page form × every caller: who may, and a refusal changes nothing.

Nine callers: the eight demo people logged in (admin, regulator, both enterprises' admins,
both stations' operators, A's driver, the inspector) and the public. Each form is sent twice
per caller: without a CSRF token (always 400, nothing changes), then with the session's
valid token, where the caller's role and enterprise decide. Rows in ``page_matrix.py``.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests import flows
from tests.pages.conftest import csrf_of, login
from tests.security.matrix import ROLES
from tests.security.page_matrix import PAGE_MATRIX, Ctx, Row, changed, csrf, snapshot


def send(client: Any, row: Row, path: str, form: dict[str, Any], token: str | None) -> Any:
    """POST a page form (or the phone page's JSON), with or without the CSRF token."""
    if row.json:
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        if token is not None:
            headers["X-CSRFToken"] = token
        return client.post(path, json=form, headers=headers)
    data = {**form, "csrf_token": token} if token is not None else form
    return client.post(path, data=data)


def refused_as(who: str | None, row: Row, resp: Any) -> bool:
    """Whether the answer is the refusal due to this caller: 403, or 'log in first'."""
    if who is not None:
        return resp.status_code == 403
    if row.json:
        return resp.status_code == 401
    return resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_the_page_matrix_covers_every_page_form(app: Any) -> None:
    import re

    posts = {
        re.sub(r"<[^>]+>", "{}", r.rule)
        for r in app.url_map.iter_rules()
        if "POST" in r.methods and not r.endpoint.startswith("api.")
    }
    covered = {re.sub(r"\{[^}]+\}", "{}", name.split(" ")[1]) for name in PAGE_MATRIX}
    assert posts == covered | {"/login", "/logout"}  # those two: tests below


@pytest.mark.parametrize("who", ROLES)
def test_each_page_form_obeys_its_roles_and_a_refusal_changes_nothing(
    app: Any, demo: Any, who: str | None
) -> None:
    client, api = app.test_client(), app.test_client()
    if who is not None:
        login(client, demo, who)
    ctx = Ctx(client, api, demo)
    token = csrf(client, ctx.code())
    wrong = []
    for name, row in PAGE_MATRIX.items():
        path, form = row.build(ctx)
        before = snapshot(app)
        resp = send(client, row, path, form, None)
        if resp.status_code != 400 or changed(before, snapshot(app)):
            wrong.append((name, "no CSRF token", resp.status_code, changed(before, snapshot(app))))
        path, form = row.build(ctx)
        before = snapshot(app)
        resp = send(client, row, path, form, token)
        diff = changed(before, snapshot(app))
        if who in row.allowed:
            ok = resp.status_code in row.statuses and diff == row.changes
            ok = ok and "/login" not in resp.headers.get("Location", "")
        elif who in row.blocked:
            ok = resp.status_code < 500 and diff == row.blocked_changes
            ok = ok and not refused_as(who, row, resp)
        else:
            ok = refused_as(who, row, resp) and not diff
        if not ok:
            wrong.append((name, resp.status_code, resp.headers.get("Location"), diff))
    assert not wrong, wrong


@pytest.mark.parametrize("who", [r for r in ROLES if r is not None])
def test_login_needs_the_csrf_token_and_the_right_password(app: Any, demo: Any, who: str) -> None:
    client = app.test_client()
    form = {"login": who, "password": demo["passwords"][who]}
    before = snapshot(app)
    assert client.post("/login", data=form).status_code == 400  # no token: no session
    assert client.get("/regulator/").status_code == 302
    token = csrf_of(client.get("/login").get_data(as_text=True))
    wrong = client.post("/login", data={**form, "password": "wrong", "csrf_token": token})
    assert wrong.status_code == 401
    assert client.get("/regulator/").status_code == 302
    right = client.post("/login", data={**form, "csrf_token": token})
    assert right.status_code == 302
    assert client.get("/regulator/").status_code == (200 if who in ("admin", "regulator") else 403)
    # Roles without a page (enterprise admins, inspectors) used to loop /login → /login.
    again = client.get("/login")
    assert again.status_code in (302, 403) and again.headers.get("Location") != "/login"
    assert not changed(before, snapshot(app))  # logging in writes nothing to the ledger


@pytest.mark.parametrize("who", ROLES)
def test_logout_needs_the_csrf_token(app: Any, demo: Any, who: str | None) -> None:
    client = app.test_client()
    if who is not None:
        login(client, demo, who)
    token = csrf(client, flows.register(client, demo))
    home = "/station/" if who in ("station_a", "station_b") else "/regulator/"
    status = client.get(home).status_code
    assert client.post("/logout").status_code == 400
    assert client.get(home).status_code == status  # still logged in (or still not)
    out = client.post("/logout", data={"csrf_token": token})
    assert out.status_code == 302 and out.headers["Location"].endswith("/login")
    assert client.get(home).status_code == 302  # logged out: the page asks for a login


@pytest.mark.parametrize(
    "target", ["/\\evil.example/x", "//evil.example", "https://evil.example/", "/\t/evil.example"]
)
def test_login_never_redirects_off_site(app: Any, demo: Any, target: str) -> None:
    client = app.test_client()
    token = csrf_of(client.get("/login").get_data(as_text=True))
    form = {"login": "regulator", "password": demo["passwords"]["regulator"], "next": target}
    resp = client.post("/login", data={**form, "csrf_token": token})
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/regulator/", resp.headers["Location"]
