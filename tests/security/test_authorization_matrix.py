"""Every API endpoint × every role × own / other enterprise (issue 8, item 1)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.security.matrix import MATRIX, ROLES, Ctx


def test_the_matrix_covers_every_api_endpoint(app: Any) -> None:
    routes = {
        (m, r.rule.removeprefix("/api/v1"))
        for r in app.url_map.iter_rules()
        if r.endpoint.startswith("api.")
        for m in r.methods - {"HEAD", "OPTIONS"}
    }
    covered = set()
    for name in MATRIX:
        method, path = name.split(" ")[:2]
        covered.add((method, path))
    normal = {(m, _shape(p)) for m, p in routes}
    assert normal == {(m, _shape(p)) for m, p in covered}


def _shape(path: str) -> str:
    import re

    return re.sub(r"<[^>]+>|\{[^}]+\}", "{}", path)


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_only_the_allowed_roles_get_through(client: Any, demo: Any, name: str) -> None:
    row = MATRIX[name]
    ctx = Ctx(client, demo)
    wrong = []
    for who in ROLES:
        resp = row.call(ctx, who)
        status = resp.status_code
        if who in row.allowed:
            ok = status < 300
        else:
            ok = status in ((401,) if who is None else (403, 404))
        if not ok or status >= 500:
            wrong.append((who, status, (resp.get_json(silent=True) or {}).get("detail")))
    assert not wrong, wrong
