"""Running a batch again: from another file, by another admin, with a fixed row, or cut
short by a refused token. Nothing is registered twice; what was registered is printed."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from labels import __main__ as labels_main
from tests.conftest import bearer, cylinder_body
from tests.labels.raster import decode_pdf
from tests.labels.test_label_batch import HEADER, _registered, good, line_of


def _codes_on(pdf: Path) -> list[str]:
    (page,) = decode_pdf(pdf.read_bytes())
    return sorted(text.split("/c/")[1].split("?")[0] for text in page)


def _second_admin(client: Any, demo: dict[str, Any]) -> str:
    resp = client.post(
        "/api/v1/actors",
        json={
            "name": "第二管理员",
            "role": "enterprise_admin",
            "enterprise_id": demo["enterprises"]["a"],
        },
        headers=bearer(demo["tokens"]["admin"]),
    )
    assert resp.status_code == 201, resp.get_json()
    token: str = resp.get_json()["token"]
    return token


def _batch(tmp_path: Path, rows: int = 3) -> tuple[Path, list[str]]:
    tag = uuid.uuid4().hex[:6].upper()
    serials = [f"R{tag}{i}" for i in range(rows)]
    path = tmp_path / f"batch-{tag}.csv"
    path.write_text("\n".join([HEADER, *map(good, serials)]) + "\n", encoding="utf-8")
    return path, serials


def _flask(app: Any, path: Path, token: str, out: Path) -> Any:
    args = ["labels", "issue", str(path), "--token", token, "--out", str(out)]
    return app.test_cli_runner().invoke(args=args)


def _http(app: Any, path: Path, token: str, out: Path) -> int:
    argv = ["issue", str(path), "--server", "http://ledger.local", "--out", str(out)]
    return labels_main.main([*argv, "--token", token], httpx.WSGITransport(app=app))


@pytest.mark.parametrize("path_taken", ["flask", "http"])
def test_the_same_rows_from_another_file_and_by_another_admin_are_reprinted_not_registered(
    app, client, demo, tmp_path, capsys, path_taken
):
    first, serials = _batch(tmp_path)
    renamed = first.with_name("batch (1).csv")
    shutil.copy(first, renamed)
    other = _second_admin(client, demo)
    sheets = [tmp_path / f"{i}.pdf" for i in range(3)]
    runs = [(first, demo["tokens"]["enterprise_a"]), (renamed, demo["tokens"]["enterprise_a"])]
    runs.append((renamed, other))
    for (path, token), out in zip(runs, sheets, strict=True):
        if path_taken == "flask":
            result = _flask(app, path, token, out)
            status, output = result.exit_code, result.output
        else:
            status, output = _http(app, path, token, out), capsys.readouterr().err
        assert status == 0, output
    assert _registered(app, serials) == dict.fromkeys(serials, 1)  # one cylinder, one event
    assert _codes_on(sheets[0]) == _codes_on(sheets[1]) == _codes_on(sheets[2])
    assert "3 already registered" in output
    code = _codes_on(sheets[0])
    assert any(f"line 2: already registered as {c}" in line_of(output, 2) for c in code)
    assert "第 2 行：已登记为" in line_of(output, 2)


@pytest.mark.parametrize("path_taken", ["flask", "http"])
def test_a_row_the_ledger_refused_can_be_fixed_and_sent_again_at_once(
    app, client, demo, tmp_path, capsys, path_taken
):
    taken = client.post(
        "/api/v1/cylinders", json=cylinder_body(), headers=bearer(demo["tokens"]["enterprise_a"])
    ).get_json()["code"]
    path, (serial, *_) = _batch(tmp_path, 1)
    token = demo["tokens"]["enterprise_a"]
    outputs = []
    for code in (taken, ""):  # the row asks for a taken code, then is fixed
        path.write_text(f"{HEADER},code\n{good(serial)},{code}\n", encoding="utf-8")
        if path_taken == "flask":
            result = _flask(app, path, token, tmp_path / "s.pdf")
            outputs.append((result.exit_code, result.output))
        else:
            status = _http(app, path, token, tmp_path / "s.pdf")
            outputs.append((status, capsys.readouterr().err))
    (refused, first), (fixed, second) = outputs
    assert refused == 1 and taken in line_of(first, 2)
    assert fixed == 0, second
    assert _registered(app, [serial]) == {serial: 1}


def test_a_token_refused_partway_still_prints_what_was_registered(
    app, client, demo, tmp_path, capsys
):
    path, serials = _batch(tmp_path, 3)
    other = _second_admin(client, demo)
    transport = httpx.WSGITransport(app=app)
    posts = 0

    def revoke_after_first(request: httpx.Request) -> None:
        nonlocal posts
        if request.method == "POST":
            posts += 1
            if posts == 2:  # the admin's token is revoked before the second row
                me = client.get("/api/v1/actors/me", headers=bearer(other)).get_json()
                resp = client.post(
                    f"/api/v1/actors/{me['id']}/revoke", headers=bearer(demo["tokens"]["admin"])
                )
                assert resp.status_code < 300, resp.get_json()

    class Revoking(httpx.WSGITransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            revoke_after_first(request)
            return transport.handle_request(request)

    out = tmp_path / "partial.pdf"
    argv = [
        "issue",
        str(path),
        "--server",
        "http://ledger.local",
        "--out",
        str(out),
        "--token",
        other,
    ]
    assert labels_main.main(argv, Revoking(app=app)) == 2
    err = capsys.readouterr().err
    assert "issued 1 codes" in err
    assert "stopped, 2 rows not tried" in err and "line 3" in err and "refused the token" in err
    assert len(_codes_on(out)) == 1
    assert _registered(app, serials) == {serials[0]: 1}


def test_without_the_servers_lookup_the_key_alone_keeps_a_same_token_rerun_single(
    app, demo, tmp_path, capsys
):
    """An older server (no GET /labels/registered: 404): the row's key is replayed."""
    first, serials = _batch(tmp_path, 2)
    renamed = first.with_name("batch (1).csv")
    shutil.copy(first, renamed)
    inner = httpx.WSGITransport(app=app)
    lookups = 0

    class WithoutLookup(httpx.WSGITransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            nonlocal lookups
            if request.url.path.endswith("/labels/registered"):
                lookups += 1
                return httpx.Response(404, json={"detail": "not found"})
            return inner.handle_request(request)

    sheets = []
    for path in (first, renamed):
        out = tmp_path / f"{path.stem}.pdf"
        argv = ["issue", str(path), "--server", "http://ledger.local", "--out", str(out)]
        argv += ["--token", demo["tokens"]["enterprise_a"]]
        assert labels_main.main(argv, WithoutLookup(app=app)) == 0
        sheets.append(_codes_on(out))
    assert lookups == 2  # asked once per run, then not again
    assert "2 already registered" in capsys.readouterr().err
    assert sheets[0] == sheets[1] and _registered(app, serials) == dict.fromkeys(serials, 1)
